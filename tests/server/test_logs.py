"""The server's log is its own lines on stderr: libraries' chatter and the credentials chain's tracebacks only at
DEBUG, and the credentials SDK's warnings always."""

from __future__ import annotations

import logging

import pytest

from ack_compute.server.logs import configure


def failed_provider() -> None:
    """What the credentials SDK logs when one provider of its default chain fails (provider/refreshable.py)."""
    try:
        raise RuntimeError("Failed to get RAM session credentials from ECS metadata service. HttpCode=404")
    except RuntimeError as exc:
        logging.getLogger("credentials").exception(exc)


@pytest.mark.usefixtures("restore_logging")
def test_at_info_the_credentials_chain_warns_without_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO")
    failed_provider()
    logging.getLogger("credentials").warning("Refresh credentials failed, using cached credentials")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001")
    logging.getLogger("ack_compute.server").info("sandbox cloud at 127.0.0.1")
    err = capsys.readouterr().err
    assert "Traceback" not in err and "ECS metadata" not in err
    assert "WARNING credentials: Refresh credentials failed, using cached credentials" in err
    assert "Running upgrade" not in err
    assert "INFO ack_compute.server: sandbox cloud at 127.0.0.1" in err


@pytest.mark.usefixtures("restore_logging")
def test_at_debug_everything_shows(capsys: pytest.CaptureFixture[str]) -> None:
    configure("DEBUG")
    failed_provider()
    logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001")
    err = capsys.readouterr().err
    assert "Traceback" in err and "HttpCode=404" in err
    assert "Running upgrade  -> 0001" in err
