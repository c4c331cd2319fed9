"""ACS3-HMAC-SHA256 verification, done the way the real gateway does it, so a client bug fails here first.

Messages never carry the secret or the expected signature; like the real gateway, a mismatch reports the
server's string to sign, which is derived from public request data only.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

from pydantic import SecretStr

from ack_compute.sandbox.errors import ApiError

ALGORITHM = "ACS3-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=15)
NONCE_TTL_SECONDS = 15 * 60
_REQUIRED_HEADERS = ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")


@dataclass(frozen=True)
class Credentials:
    """The one AccessKey pair the sandbox accepts."""

    access_key_id: str
    access_key_secret: SecretStr


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that a signature covers, exactly as they arrived."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]  # lower-case names, repeated names kept
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


class NonceCache:
    """Nonces seen in the last 15 minutes; a repeat within that window is a replay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()

    def claim(self, nonce: str) -> bool:
        """Record the nonce; False when it was already used within the window."""
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - NONCE_TTL_SECONDS:
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def verify_signature(request: SignedRequest, credentials: Credentials, nonces: NonceCache, now: datetime) -> None:
    """Raise the real gateway's error when the request is not signed by `credentials`."""
    algorithm, access_key_id, signed_headers, signature = _parse_authorization(request.header("authorization"))
    if algorithm != ALGORITHM:
        raise ApiError(400, "InvalidSignatureMethod", f"Specified signature method {algorithm} is not supported.")
    if access_key_id != credentials.access_key_id:
        raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    for name in _REQUIRED_HEADERS:
        if not request.header(name):
            raise _incomplete(f"the {name} header is missing")
    unsigned = sorted(
        {key for key, _ in request.headers if key == "host" or key.startswith("x-acs-")} - set(signed_headers)
    )
    if unsigned:
        raise _incomplete(f"these headers must be signed: {', '.join(unsigned)}")
    _check_date(request.header("x-acs-date") or "", now)
    payload_hash = (request.header("x-acs-content-sha256") or "").lower()
    if hashlib.sha256(request.body).hexdigest() != payload_hash:
        raise _mismatch("The x-acs-content-sha256 header does not match the SHA-256 digest of the request body.")
    string_to_sign = (
        f"{ALGORITHM}\n{hashlib.sha256(_canonical_request(request, signed_headers, payload_hash)).hexdigest()}"
    )
    secret = credentials.access_key_secret.get_secret_value().encode()
    expected = hmac.new(secret, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise _mismatch(
            f"Specified signature does not match our calculation. server StringToSign is [{string_to_sign}]"
        )
    if not nonces.claim(request.header("x-acs-signature-nonce") or ""):
        raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def _parse_authorization(value: str | None) -> tuple[str, str, list[str], str]:
    """`ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex` -> its four parts."""
    algorithm, _, rest = (value or "").strip().partition(" ")
    fields = {key.strip(): value.strip() for key, _, value in (part.partition("=") for part in rest.split(","))}
    credential, signed, signature = (fields.get(key, "") for key in ("Credential", "SignedHeaders", "Signature"))
    if not (algorithm and credential and signed and signature):
        raise _incomplete("the Authorization header is missing or malformed")
    return algorithm, credential, signed.split(";"), signature


def _check_date(value: str, now: datetime) -> None:
    try:
        signed_at = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(
            400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
        ) from None
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")


def _canonical_request(request: SignedRequest, signed_headers: list[str], payload_hash: str) -> bytes:
    query = "&".join(
        f"{_encode(key)}={_encode(value)}"
        for key, value in sorted(parse_qsl(request.raw_query, keep_blank_values=True))
    )
    headers = "".join(
        f"{name}:{','.join(sorted(value.strip() for key, value in request.headers if key == name))}\n"
        for name in signed_headers
    )
    lines = (request.method, request.raw_path or "/", query, headers, ";".join(signed_headers), payload_hash)
    return "\n".join(lines).encode()


def _encode(text: str) -> str:
    """RFC 3986: unreserved characters kept, everything else percent-encoded (space %20, `*` %2A)."""
    return quote(text, safe="~")


def _incomplete(detail: str) -> ApiError:
    return ApiError(
        400, "IncompleteSignature", f"The request signature does not conform to Aliyun standards: {detail}."
    )


def _mismatch(message: str) -> ApiError:
    return ApiError(400, "SignatureDoesNotMatch", message)
