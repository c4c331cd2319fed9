"""HTTPS for the kube hub: one listener, each cluster's own serving certificate, client certificates to the app.

A client that names the cluster (SNI, the kubeconfig's `tls-server-name`) gets a certificate from that
cluster's CA, as it would from the cluster's own API server; one that names nothing (the sandbox's kubelets)
gets the hub's. The handshake asks for a client certificate and accepts any from a sandbox CA; whether it is
good for the cluster addressed is the API's decision (401 otherwise), as in kube-apiserver. The peer
certificate reaches the app through the ASGI TLS extension (`scope["extensions"]["tls"]["client_cert_chain"]`).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from ack_compute.sandbox.kube.pki import Authority, ClusterAuthority

HUB_ADDRESS = "127.0.0.1"


class HubTls:
    """The hub's server context and one per cluster; every context trusts every cluster CA for client certs."""

    def __init__(self) -> None:
        self.authority = Authority("ack-sandbox-kube-hub")
        self.context = self.authority.server_context("kube-hub", ip_addresses=(HUB_ADDRESS,))
        self.context.sni_callback = self._choose
        self._lock = threading.Lock()
        self._by_name: dict[str, ssl.SSLContext] = {}
        self._cas: dict[str, str] = {}  # server name -> CA PEM, of the clusters still there

    def add(self, authority: ClusterAuthority) -> None:
        # After SNI switches the context, OpenSSL verifies the client against the new context's store.
        context = authority.server_context(authority.server_name)
        ca = authority.pem.decode()
        with self._lock:
            for known in self._cas.values():
                context.load_verify_locations(cadata=known)
            for each in (self.context, context, *self._by_name.values()):
                each.load_verify_locations(cadata=ca)
            self._cas[authority.server_name] = ca
            self._by_name[authority.server_name] = context

    def remove(self, authority: ClusterAuthority) -> None:
        with self._lock:
            self._by_name.pop(authority.server_name, None)
            self._cas.pop(authority.server_name, None)  # contexts made later need not trust it

    def _choose(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        with self._lock:
            chosen = self._by_name.get(server_name or "")
        if chosen is not None:
            connection.context = chosen


class PeerCertificateProtocol(H11Protocol):
    """uvicorn's h11 protocol that hands the client's certificate to the app as the ASGI TLS extension does."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        app = self.app

        async def with_peer(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": chain}
            await app(scope, receive, send)

        self.app = with_peer


def client_certificate(scope: Any) -> str | None:
    """The PEM of the certificate the client presented, if any."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    return chain[0] if chain else None
