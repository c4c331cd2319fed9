"""Certificate authorities of the sandbox's clusters: client certificates as ACK issues them, server TLS.

ACK kubeconfigs (DescribeClusterUserKubeconfig) authenticate with an x509 client certificate signed by the
cluster's CA; RevokeK8sClusterKubeConfig (`DELETE /k8s/{ClusterId}/certs`) makes the user's earlier ones
stop working (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/
api-cs-2015-12-15-revokek8sclusterkubeconfig). Each cluster here has its own CA; its API checks a presented
certificate the way kube-apiserver's x509 authenticator does (chain to the cluster's CA, validity, then
CN = user and O = groups) and answers 401 otherwise. Keys are EC P-256: fast to make, accepted by kube-apiserver.
No key touches disk: OpenSSL reads them from anonymous memory files (`load_cert_chain_from_memory`).
"""

from __future__ import annotations

import base64
import ipaddress
import math
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ack_compute.cloud.memory_tls import load_cert_chain_from_memory
from ack_compute.sandbox.kube.auth import AUTHENTICATED_GROUP, UserInfo

CA_YEARS = 10
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: the TLS layer accepts an expired client certificate so the API can
# answer 401 as kube-apiserver does (it requests, but does not verify, client certificates during the handshake).
_NO_CHECK_TIME = 0x200000


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*parts, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def client_certificate_subject(user: str, groups: tuple[str, ...]) -> x509.Name:
    """The subject kube-apiserver reads a client certificate's user (CN) and groups (O) from."""
    return _name(user, groups)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    encoding, form = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, form, serialization.NoEncryption())


class Authority:
    """A self-signed CA that signs serving and client certificates."""

    def __init__(self, common_name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        self.data = base64.b64encode(self.pem).decode()  # a kubeconfig's certificate-authority-data

    def __repr__(self) -> str:
        return f"Authority({self.certificate.subject.rfc4514_string()})"

    def sign(
        self,
        subject: x509.Name,
        *,
        not_after: datetime,
        client: bool,
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
    ) -> tuple[x509.Certificate, bytes]:
        """A fresh key and its certificate; returns (certificate, key PEM)."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.now(UTC) - timedelta(minutes=1))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self._key, hashes.SHA256()), _pem_key(key)

    def server_context(self, server_name: str, ip_addresses: tuple[str, ...] = ()) -> ssl.SSLContext:
        """A TLS server context presenting a certificate for `server_name` (and the addresses), requesting
        client certificates without failing the handshake on an expired one."""
        certificate, key = self.sign(
            _name(server_name),
            not_after=datetime.now(UTC) + timedelta(days=365 * CA_YEARS),
            client=False,
            dns_names=(server_name,),
            ip_addresses=ip_addresses,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        load_cert_chain_from_memory(context, certificate.public_bytes(serialization.Encoding.PEM) + self.pem, key)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= _NO_CHECK_TIME
        return context

    def issued_by_me(self, certificate: x509.Certificate) -> bool:
        if certificate.issuer != self.certificate.subject:
            return False
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


@dataclass(frozen=True)
class ClientCredential:
    """What goes into a kubeconfig's user: base64 PEM of the certificate and of its key."""

    certificate_data: str
    key_data: str
    not_after: datetime

    def __repr__(self) -> str:
        return f"ClientCredential(expires {self.not_after:%Y-%m-%dT%H:%M:%SZ}, key hidden)"


@dataclass(frozen=True)
class _Issued:
    user: UserInfo
    expires_at: float  # monotonic: the sandbox's scaled durations can be shorter than a certificate's seconds


class ClusterAuthority(Authority):
    """One cluster's CA and the client certificates it issued (revocable per user, as ACK's revoke is)."""

    def __init__(self, cluster_id: str) -> None:
        super().__init__(f"kubernetes-{cluster_id}")
        self.server_name = f"{cluster_id}.kube.sandbox.invalid"  # the kubeconfig's tls-server-name
        self._lock = threading.Lock()
        self._issued: dict[int, _Issued] = {}

    def issue_client(self, user: str, groups: tuple[str, ...], ttl_seconds: float) -> ClientCredential:
        """A client certificate with CN=user and O=groups, valid for `ttl_seconds` (rounded up to a second on
        the certificate, exact in the authority's book)."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=math.ceil(ttl_seconds) + 1)
        certificate, key = self.sign(client_certificate_subject(user, groups), not_after=not_after, client=True)
        info = UserInfo(user, (*groups, AUTHENTICATED_GROUP))
        with self._lock:
            self._prune()
            self._issued[certificate.serial_number] = _Issued(info, time.monotonic() + ttl_seconds)
        return ClientCredential(
            base64.b64encode(certificate.public_bytes(serialization.Encoding.PEM)).decode(),
            base64.b64encode(key).decode(),
            not_after,
        )

    def revoke(self, user: str) -> int:
        """Every certificate issued to `user` stops working; returns how many were live."""
        with self._lock:
            serials = [s for s, issued in self._issued.items() if issued.user.name == user]
            for serial in serials:
                del self._issued[serial]
        return len(serials)

    def authenticate(self, pem: str) -> UserInfo | None:
        """The certificate's user, or None when it is not this CA's, expired or revoked (the caller answers 401)."""
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            return None
        if not self.issued_by_me(certificate):
            return None
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return None
        with self._lock:
            issued = self._issued.get(certificate.serial_number)
            if issued is None:
                return None
            if time.monotonic() >= issued.expires_at:
                del self._issued[certificate.serial_number]
                return None
            return issued.user

    def _prune(self) -> None:
        now = time.monotonic()
        for serial in [s for s, i in self._issued.items() if i.expires_at <= now]:
            del self._issued[serial]
