"""An official-client ApiClient from a kubeconfig held in memory, without writing its keys to any file.

The `kubernetes` loader writes `certificate-authority-data`, `client-certificate-data` and `client-key-data`
to temp files (kubernetes/config/kube_config.py `_create_temp_file_with_content`) and removes them only at
interpreter exit: every ACK kubeconfig (an x509 client certificate) would leave its private key in /tmp, and
a crash would keep it there. So the loader sees the kubeconfig without that data, and the TLS is built here:
an `ssl.SSLContext` trusting the CA from memory (`cadata`), with the client certificate and key read by
OpenSSL from anonymous memory files (memory_tls.py). urllib3 then gets a PoolManager with that context
(kubernetes/client/rest.py RESTClientObject builds its own from file paths; ours replaces it). Proxies are never used.
"""

from __future__ import annotations

import base64
import copy
import ssl
from typing import Any

from ack_compute.cloud.memory_tls import load_cert_chain_from_memory

CLUSTER_DATA = ("certificate-authority-data",)
USER_DATA = ("client-certificate-data", "client-key-data")


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the field, never its content."""


def _named(entries: Any, name: Any, key: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(key), dict):
            section: dict[str, Any] = entry[key]
            return section
    return {}


def _decode(section: dict[str, Any], field: str) -> bytes | None:
    value = section.pop(field, None)
    if value is None:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise KubeconfigError(f"{field} is not base64") from None


def _current(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The current context's cluster and user sections (inside `document`, so edits strip them)."""
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or [] if isinstance(c, dict)}
    context = contexts.get(document.get("current-context")) or {}
    cluster = _named(document.get("clusters"), context.get("cluster"), "cluster")
    return cluster, _named(document.get("users"), context.get("user"), "user")


def _tls_context(configuration: Any, ca: bytes | None, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    """The TLS of the stripped data, plus what the kubeconfig names as files (the loader kept those paths)."""
    try:
        if ca:
            context = ssl.create_default_context(cadata=ca.decode())
        else:
            context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if not configuration.verify_ssl:  # insecure-skip-tls-verify
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert or key:
            if not (cert and key):
                raise KubeconfigError("client-certificate-data and client-key-data must come together")
            load_cert_chain_from_memory(context, cert, key)
        elif configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    except KubeconfigError:
        raise
    except (OSError, ValueError) as exc:  # messages name OpenSSL's reason, never the bytes
        raise KubeconfigError(
            "its CA, client certificate or client key is not valid PEM, or the key does not match the certificate"
            f" ({type(exc).__name__})"
        ) from None
    return context


def new_api_client(document: dict[str, Any]) -> Any:
    """The official client's ApiClient for the kubeconfig's current context, its keys in memory only."""
    from kubernetes import client, config

    stripped = copy.deepcopy(document)
    cluster, user = _current(stripped)
    ca = _decode(cluster, "certificate-authority-data")
    cert, key = (_decode(user, field) for field in USER_DATA)
    configuration = type.__call__(client.Configuration)  # a fresh one, as new_client_from_config_dict makes
    config.load_kube_config_from_dict(stripped, client_configuration=configuration)
    api = client.ApiClient(configuration)
    if str(configuration.host).startswith("https") and (ca or cert or key):
        context = _tls_context(configuration, ca, cert, key)
        api.rest_client.pool_manager = _pool_manager(configuration, context)
    return api


def _pool_manager(configuration: Any, context: ssl.SSLContext) -> Any:
    import urllib3

    arguments: dict[str, Any] = {
        "ssl_context": context,
        "cert_reqs": ssl.CERT_REQUIRED if context.verify_mode != ssl.CERT_NONE else ssl.CERT_NONE,
    }
    if configuration.tls_server_name:  # SNI and the name the server's certificate must carry
        arguments["server_hostname"] = configuration.tls_server_name
    if configuration.connection_pool_maxsize is not None:
        arguments["maxsize"] = configuration.connection_pool_maxsize
    if configuration.retries is not None:
        arguments["retries"] = configuration.retries
    return urllib3.PoolManager(**arguments)
