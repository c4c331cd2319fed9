"""Settings as an operator writes them: a list setting reads the same from a flag as from the environment, a bad
value is named as it was written (flag or variable) without echoing it, and a misspelt variable is reported rather
than silently ignored (a budget cap that never applies is money spent)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ack_compute.server.settings import TOOLING_VARIABLES, Settings, unknown_variables
from tests.helpers.processes import serve_once

SECRET_LOOKALIKE = "shortsecret-7q"


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real entry point over stdio with nothing on stdin, without the shell's or the harness's ACK_COMPUTE_*."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ACK_COMPUTE_")}
    return serve_once("--sandbox", *args, env={**clean, "ACK_COMPUTE_STATE_DIR": str(tmp_path / "state"), **env})


def test_a_list_setting_reads_the_same_from_repeated_flags_as_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_flags = Settings(allowed_hosts=["a.example, b.example", "c.example"], allowed_contexts=["dev,prod"])
    monkeypatch.setenv("ACK_COMPUTE_ALLOWED_HOSTS", "a.example,b.example,c.example")
    monkeypatch.setenv("ACK_COMPUTE_ALLOWED_CONTEXTS", "dev, prod")
    from_environment = Settings()
    assert from_flags.allowed_hosts == from_environment.allowed_hosts == ["a.example", "b.example", "c.example"]
    assert from_flags.allowed_contexts == from_environment.allowed_contexts == ["dev", "prod"]


def test_misspelt_variables_are_named_with_the_setting_they_likely_meant() -> None:
    environ = {
        "ACK_COMPUTE_MAX_HOURLY_CAP": "5",
        "ack_compute_quote_ttl_seconds": "600",  # read case-insensitively, so a setting
        "ACK_COMPUTE_REGION": "cn-beijing",
        "ALIBABA_CLOUD_REGION": "cn-beijing",
        "ACK_COMPUTE_WHATEVER": "1",
        "HOME": "/root",
    }
    assert unknown_variables(environ) == [
        "ACK_COMPUTE_MAX_HOURLY_CAP (did you mean ACK_COMPUTE_MAX_HOURLY?)",
        "ACK_COMPUTE_WHATEVER",
    ]
    every_setting = {f"ACK_COMPUTE_{name.upper()}": "x" for name in Settings.model_fields}
    assert unknown_variables(every_setting) == []


def test_serve_warns_of_a_misspelt_cap_on_start(tmp_path: Path) -> None:
    done = serve(tmp_path, ACK_COMPUTE_MAX_HOURLY_CAP="5")
    assert done.returncode == 0 and done.stdout == ""
    assert (
        "WARNING ack_compute.server: ACK_COMPUTE_MAX_HOURLY_CAP (did you mean ACK_COMPUTE_MAX_HOURLY?) is not a "
        "setting and is ignored" in done.stderr
    )


def test_a_short_quote_secret_is_named_by_its_variable_and_never_echoed(tmp_path: Path) -> None:
    done = serve(tmp_path, ACK_COMPUTE_QUOTE_SECRET=SECRET_LOOKALIKE)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == (
        "ack-compute-mcp: invalid setting: ACK_COMPUTE_QUOTE_SECRET: use at least 32 random characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))')."
    )
    assert SECRET_LOOKALIKE not in done.stderr
    assert not (tmp_path / "state").exists(), "nothing started"


def test_a_bad_flag_value_is_named_as_the_flag(tmp_path: Path) -> None:
    done = serve(tmp_path, "--lease-grace", "-5", ACK_COMPUTE_QUOTE_TTL_SECONDS="30")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "ack-compute-mcp: invalid setting: ACK_COMPUTE_QUOTE_TTL_SECONDS: must be at least 60; "
        "--lease-grace: must be at least 0.0."
    )


def test_libraries_chatter_only_at_debug(tmp_path: Path) -> None:
    """At the default level the log is the server's own lines: no Alembic migration lines, no line per HTTP
    request; --log-level DEBUG shows them."""
    quiet = serve(tmp_path)
    assert quiet.returncode == 0 and "sandbox cloud at" in quiet.stderr
    assert " alembic" not in quiet.stderr and " httpx:" not in quiet.stderr, quiet.stderr
    loud = serve(tmp_path / "debug", "--log-level", "DEBUG")
    assert " alembic.runtime.migration: Running upgrade" in loud.stderr


ROOT = Path(__file__).resolve().parents[2]


def test_the_repositorys_own_tooling_variables_are_known_and_never_taken_for_misspellings() -> None:
    """What scripts/, .ci/run and the test harness read is exactly TOOLING_VARIABLES, and none of it is warned of."""
    sources = [
        *ROOT.joinpath("scripts").glob("*.sh"),
        ROOT / ".ci" / "run",
        *ROOT.joinpath("tests").rglob("conftest.py"),
    ]
    sources += [*ROOT.joinpath("tests", "helpers").glob("*.py")]
    read = {m for path in sources for m in re.findall(r"ACK_COMPUTE_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8"))}
    assert read - _settings_variables() == set(TOOLING_VARIABLES)
    assert unknown_variables(dict.fromkeys(TOOLING_VARIABLES, "1")) == []
    assert unknown_variables({"ACK_COMPUTE_PG_USERS": "x"}) == ["ACK_COMPUTE_PG_USERS"], "no setting is like it"


def _settings_variables() -> set[str]:
    return {f"ACK_COMPUTE_{name.upper()}" for name in Settings.model_fields}


def test_a_bad_rate_table_stops_the_start_in_one_line_that_names_fields_not_values(tmp_path: Path) -> None:
    table = tmp_path / "rates.json"
    table.write_text('{"as_of": "token-like-9q3z", "source": "x"}')
    done = serve(tmp_path, "--rate-table", str(table))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"ack-compute-mcp: The rate table {table} (ACK_COMPUTE_RATE_TABLE) has missing or invalid fields: "
        "ack_pro_fee_per_hour, acs, as_of. Fix the file (the shape of tools/data/rates.json) or unset the setting "
        "for the built-in one."
    )
    assert "token-like-9q3z" not in done.stderr
    done = serve(tmp_path, "--rate-table", str(tmp_path / "missing.json"))
    assert done.returncode == 2 and "cannot be read (No such file or directory)" in done.stderr


def test_a_bad_region_is_named_by_the_variable_that_was_set(tmp_path: Path) -> None:
    done = serve(tmp_path, ALIBABA_CLOUD_REGION="Hangzhou")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("ack-compute-mcp: invalid setting: ALIBABA_CLOUD_REGION: ")
