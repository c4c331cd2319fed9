"""Who may call over HTTP, and as whom.

Two ways in, both through the SDK's token verifier so sessions stay bound to the credential that opened
them: static bearer tokens (from the environment or a file, compared in constant time by digest) or an
OAuth resource-server setup (RFC 7662 introspection at the operator's authorization server). Host and
Origin allowlists guard against DNS rebinding. Any unsafe combination is refused at startup with what
to change, before a socket is opened.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from ack_compute.server.settings import Settings
from ack_compute.tools.budgets import BudgetAmount, CallerBudget
from ack_compute.tools.identity import LOCAL_OPERATOR, Caller, acting_as
from ack_compute.tools.targets import CONTEXT_SCOPE_PREFIX

log = logging.getLogger("ack_compute.server")
STATIC_ADMIN_SCOPE = "ack-compute:admin"
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
_TOKEN_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


M = TypeVar("M", bound=BaseModel)


class AccessConfigError(Exception):
    """The HTTP access settings are unsafe or incomplete; the message says what to set."""


class TokenEntry(BaseModel):
    """One caller in the tokens file. Prefer `sha256` (of the token) so the file holds no usable secret."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@:+-]+$")
    token: SecretStr | None = Field(None, min_length=32)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    admin: bool = False
    # Kubeconfig contexts this caller may target (`context:<name>`), among ACK_COMPUTE_ALLOWED_CONTEXTS;
    # admins may use every allowed context without listing them.
    contexts: list[str] = Field(default_factory=list, max_length=64)
    # This caller's spend budgets in ACK_COMPUTE_BUDGET_CURRENCY (else the server's defaults apply).
    daily_budget: BudgetAmount | None = None
    monthly_budget: BudgetAmount | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of token or sha256")
        return self

    def digest(self) -> bytes:
        if self.token is not None:
            return hashlib.sha256(self.token.get_secret_value().encode()).digest()
        return bytes.fromhex(self.sha256 or "")

    def budget(self) -> CallerBudget:
        return CallerBudget(daily_budget=self.daily_budget, monthly_budget=self.monthly_budget)


class TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> TokensFile:
        subjects = [t.subject for t in self.tokens]
        if len(set(subjects)) != len(subjects):
            raise ValueError("each subject may appear once")
        if len({t.digest() for t in self.tokens}) != len(self.tokens):
            raise ValueError("two entries share a token")
        return self


class CallerPolicyFile(BaseModel):
    """Budgets per caller subject, for callers the tokens file does not list (OAuth)."""

    model_config = ConfigDict(extra="forbid")

    callers: dict[str, CallerBudget] = Field(default_factory=dict)

    @field_validator("callers")
    @classmethod
    def _exact_subjects(cls, callers: dict[str, CallerBudget]) -> dict[str, CallerBudget]:
        # A subject is matched exactly (as the identity provider sends it): one with spaces around it, or empty,
        # matches nobody, so its budget would silently apply to no one.
        if bad := sorted(repr(s) for s in callers if not s or s != s.strip()):
            raise ValueError(
                f"subject {', '.join(bad)} is empty or has spaces around it and would match no caller; write each "
                "subject exactly as the identity provider sends it"
            )
        return callers


@dataclass(frozen=True)
class _Known:
    digest: bytes
    subject: str
    admin: bool
    contexts: tuple[str, ...] = ()


class StaticTokenVerifier(TokenVerifier):
    """Bearer tokens known in advance. Every entry is compared (no early exit) on SHA-256 digests, so
    neither the match position nor the token's length leaks through timing."""

    def __init__(self, known: list[_Known]) -> None:
        self._known = known

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode()).digest()
        found: _Known | None = None
        for entry in self._known:
            if hmac.compare_digest(digest, entry.digest):
                found = entry
        if found is None:
            return None
        scopes = [STATIC_ADMIN_SCOPE] if found.admin else []
        scopes += [f"{CONTEXT_SCOPE_PREFIX}{c}" for c in found.contexts]
        return AccessToken(token=token, client_id=found.subject, scopes=scopes, subject=found.subject)


class IntrospectionVerifier(TokenVerifier):
    """RFC 7662: ask the authorization server whether a token is active, for whom and for which audience.
    Positive answers are cached until the token expires or for at most `cache_seconds`."""

    def __init__(
        self,
        introspection_url: str,
        resource_url: str,
        client_id: str | None,
        client_secret: SecretStr | None,
        *,
        timeout_s: float = 5.0,
        cache_seconds: float = 60.0,
    ) -> None:
        self._url = introspection_url
        self._resource = resource_url.rstrip("/")
        self._auth = (client_id, client_secret.get_secret_value()) if client_id and client_secret else None
        self._timeout = timeout_s
        self._cache_seconds = cache_seconds
        self._cache: dict[bytes, tuple[float, AccessToken]] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).digest()
        now = time.time()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self._url,
                    data={"token": token, "token_type_hint": "access_token"},
                    auth=self._auth,
                    headers={"Accept": "application/json"},
                )
            claims: dict[str, Any] = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("token introspection at %s failed: %s", self._url, type(exc).__name__)
            return None
        if not claims.get("active"):
            return None
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires <= now:
            return None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if self._resource not in {str(a).rstrip("/") for a in audiences}:
            log.warning("refused a token issued for %s, not for %s", audiences or "no audience", self._resource)
            return None
        subject = str(claims.get("sub") or claims.get("client_id") or "")
        if not subject:
            return None
        access = AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or subject),
            scopes=str(claims.get("scope") or "").split(),
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            resource=self._resource,
            subject=subject,
            claims={"iss": claims.get("iss")},
        )
        until = min(now + self._cache_seconds, float(expires) if isinstance(expires, int | float) else now + 60)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (until, access)
        return access


def caller_of(token: AccessToken | None, admin_scope: str, budgets: Mapping[str, CallerBudget] | None = None) -> Caller:
    """No token: the transport is unauthenticated (stdio or loopback HTTP), so the one local operator. `budgets`:
    each subject's own (tokens file, caller policy file)."""
    if token is None:
        return LOCAL_OPERATOR
    subject = token.subject or token.client_id
    contexts = frozenset(s[len(CONTEXT_SCOPE_PREFIX) :] for s in token.scopes if s.startswith(CONTEXT_SCOPE_PREFIX))
    budget = (budgets or {}).get(subject, CallerBudget())
    return Caller(subject=subject, admin=admin_scope in token.scopes, contexts=contexts, budget=budget)


class CallerMiddleware:
    """Runs every request (tools, resolvers, resources) as the caller its bearer token names."""

    def __init__(self, admin_scope: str, budgets: Mapping[str, CallerBudget] | None = None) -> None:
        self._admin_scope = admin_scope
        self._budgets = dict(budgets or {})

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        caller = caller_of(get_access_token(), self._admin_scope, self._budgets)
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            # An audit line per call: who and which tool, never the arguments (scripts, tokens). A request that
            # carries answers (inputResponses: a sessionless client's reply to the cost question) says so; the
            # client sets that field, so it marks the line and never replaces "calls".
            answers = " (with answers)" if ctx.params.get("inputResponses") else ""
            log.info("%s calls %s%s", caller.label, ctx.params.get("name"), answers)
        with acting_as(caller):
            return await call_next(ctx)


@dataclass(frozen=True)
class HttpAccess:
    mode: Literal["none", "bearer", "oauth"]
    verifier: TokenVerifier | None
    auth: AuthSettings | None
    security: TransportSecuritySettings
    admin_scope: str
    callers: int  # how many identities a bearer setup knows
    budgets: dict[str, CallerBudget] = field(default_factory=dict)  # subject -> their own budgets

    def describe(self) -> str:
        if self.mode == "none":
            return "no authentication (loopback only)"
        if self.mode == "bearer":
            return f"bearer tokens ({self.callers} caller(s))"
        return f"OAuth tokens from {self.auth.issuer_url if self.auth else '?'}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _load_tokens_file(path: Path) -> list[TokenEntry]:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessConfigError(f"tokens file {path} cannot be read ({exc.strerror}); fix the path") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and os.name == "posix":
        raise AccessConfigError(f"tokens file {path} is readable by other users; run: chmod 600 {path}")
    expected = '{"tokens": [{"subject": "alice", "sha256": "<hex of sha256(token)>", "admin": false}, ...]}'
    return _parsed(TokensFile, text, f"tokens file {path}", expected).tokens


def _parsed(model: type[M], text: str, what: str, expected: str) -> M:
    """One JSON config file read into its model, or AccessConfigError naming each problem and the shape expected."""
    try:
        return model.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        problems = (
            "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
            if isinstance(exc, ValidationError)
            else "not valid JSON"
        )
        raise AccessConfigError(f"{what} is invalid ({problems}). Expected {expected}") from None


def _load_policy_file(path: Path) -> dict[str, CallerBudget]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessConfigError(f"caller policy file {path} cannot be read ({exc.strerror}); fix the path") from None
    expected = '{"callers": {"<subject>": {"daily_budget": 5, "monthly_budget": 100}}}'
    return _parsed(CallerPolicyFile, text, f"caller policy file {path}", expected).callers


def _budgets(settings: Settings, entries: list[TokenEntry]) -> dict[str, CallerBudget]:
    """Each caller's own budgets: from their tokens-file entry, or from the caller policy file (one place each)."""
    budgets = {e.subject: e.budget() for e in entries if e.budget() != CallerBudget()}
    if settings.caller_policy_file is not None:
        policy = _load_policy_file(settings.caller_policy_file)
        if twice := sorted(set(policy) & set(budgets)):
            raise AccessConfigError(
                f"budgets for {', '.join(twice)} are in both the tokens file and the caller policy file; keep them "
                "in one of the two"
            )
        budgets.update(policy)
    return budgets


def _hosts(settings: Settings, host: str) -> TransportSecuritySettings:
    hosts: list[str] = []
    for h in settings.allowed_hosts:
        hosts += [h] if ":" in h.removeprefix("[").split("]")[-1] else [h, f"{h}:*"]
    origins = list(settings.allowed_origins)
    if is_loopback(host):
        hosts += _LOOPBACK_HOSTS
        origins += _LOOPBACK_ORIGINS
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def http_access(settings: Settings, host: str, port: int) -> HttpAccess:
    """Decide how HTTP callers are authenticated; refuse what would expose the server."""
    oauth_fields = {
        "ACK_COMPUTE_OAUTH_ISSUER_URL": settings.oauth_issuer_url,
        "ACK_COMPUTE_OAUTH_INTROSPECTION_URL": settings.oauth_introspection_url,
        "ACK_COMPUTE_OAUTH_RESOURCE_URL": settings.oauth_resource_url,
    }
    wants_oauth = any(oauth_fields.values())
    wants_bearer = settings.http_token is not None or settings.http_tokens_file is not None
    if wants_oauth and wants_bearer:
        raise AccessConfigError(
            "both bearer tokens and OAuth are configured; choose one: unset ACK_COMPUTE_HTTP_TOKEN/"
            "ACK_COMPUTE_HTTP_TOKENS_FILE or the ACK_COMPUTE_OAUTH_* settings"
        )
    loopback = is_loopback(host)
    if not loopback and not (wants_oauth or wants_bearer):
        raise AccessConfigError(
            f"refusing to serve on {host} without authentication: anyone who reaches that address could spend "
            "money. Set ACK_COMPUTE_HTTP_TOKEN (at least 32 characters; " + _TOKEN_HINT + "), or "
            "ACK_COMPUTE_HTTP_TOKENS_FILE, or the ACK_COMPUTE_OAUTH_* settings; or bind 127.0.0.1"
        )
    if not loopback and not settings.allowed_hosts:
        raise AccessConfigError(
            f"serving on {host} needs the Host names clients use: set ACK_COMPUTE_ALLOWED_HOSTS "
            "(or --allowed-host), e.g. mcp.example.com (requests with any other Host header get 421)"
        )
    security = _hosts(settings, host)
    base = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if wants_oauth:
        missing = [name for name, value in oauth_fields.items() if not value]
        if missing:
            raise AccessConfigError(f"OAuth needs {', '.join(missing)} as well")
        for name, value in oauth_fields.items():
            if not str(value).startswith(("https://", "http://127.0.0.1", "http://localhost")):
                raise AccessConfigError(f"{name} must be an https:// URL (plain http only on loopback): {value}")
        verifier = IntrospectionVerifier(
            str(settings.oauth_introspection_url),
            str(settings.oauth_resource_url),
            settings.oauth_client_id,
            settings.oauth_client_secret,
        )
        auth = AuthSettings(
            issuer_url=str(settings.oauth_issuer_url),
            resource_server_url=str(settings.oauth_resource_url),
            required_scopes=settings.oauth_required_scopes or None,
            validate_token_resource=True,
        )
        return HttpAccess("oauth", verifier, auth, security, settings.admin_scope, 0, _budgets(settings, []))
    if wants_bearer:
        known: list[_Known] = []
        entries: list[TokenEntry] = []
        if settings.http_token is not None:
            known.append(
                _Known(
                    hashlib.sha256(settings.http_token.get_secret_value().encode()).digest(),
                    settings.http_token_subject,
                    True,
                )
            )
        if settings.http_tokens_file is not None:
            entries = _load_tokens_file(settings.http_tokens_file)
            known += [_Known(e.digest(), e.subject, e.admin, tuple(e.contexts)) for e in entries]
            for entry in entries:
                if stray := sorted(set(entry.contexts) - set(settings.allowed_contexts)):
                    log.warning(
                        "tokens file grants %s context(s) %s that ACK_COMPUTE_ALLOWED_CONTEXTS does not list: "
                        "they stay refused",
                        entry.subject,
                        ", ".join(stray),
                    )
        if len({k.subject for k in known}) != len(known):
            raise AccessConfigError(
                f"subject {settings.http_token_subject!r} of ACK_COMPUTE_HTTP_TOKEN is also in the tokens file; "
                "use one or the other for it"
            )
        # No resource_server_url: there is no authorization server to advertise; a client just sends the token.
        auth = AuthSettings(issuer_url=base, resource_server_url=None)  # type: ignore[arg-type]
        budgets = _budgets(settings, entries)
        return HttpAccess("bearer", StaticTokenVerifier(known), auth, security, STATIC_ADMIN_SCOPE, len(known), budgets)
    return HttpAccess("none", None, None, security, settings.admin_scope, 0, _budgets(settings, []))
