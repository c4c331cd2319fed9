"""A certificate chain and key loaded into an `ssl.SSLContext` without writing either to any file.

`SSLContext.load_cert_chain` takes only paths, so OpenSSL reads them from anonymous memory files
(`memfd_create`, closed right after loading; a pipe where memfd is missing). Pure OS plumbing with no cloud or
API knowledge: the one module of product code the sandbox may import (tests/test_architecture.py), so the rule
"no key touches disk" has one implementation on both sides of the wire.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can open that names no file on any filesystem."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    read, write = os.pipe()  # read once by OpenSSL; a PEM chain or key fits in the pipe's buffer
    try:
        os.write(write, data)
        os.close(write)
        write = -1
        yield f"/dev/fd/{read}"
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


def load_cert_chain_from_memory(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    with _memory_file(cert_pem) as cert_path, _memory_file(key_pem) as key_path:
        context.load_cert_chain(cert_path, key_path)
