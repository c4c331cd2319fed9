"""readable() waits on descriptors beyond select()'s 1024 limit, which a long-lived process reaches."""

from __future__ import annotations

import os
import resource
import socket

import pytest

from ack_compute.sandbox.kubelet.polling import readable


def test_a_descriptor_above_1024_is_waited_on_and_read() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.fail(f"this machine allows only {hard} open files; the test needs 1100")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    left, right = socket.socketpair()
    high = os.dup2(left.fileno(), 1050)
    try:
        assert readable([high], 0) == []
        right.send(b"x")
        assert readable([high], 1.0) == [high]
        assert os.read(high, 1) == b"x"
        right.close()
        assert readable([high, left], 1.0), "a hung-up peer reads as ready (end of file)"
    finally:
        os.close(high)
        left.close()
        right.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
