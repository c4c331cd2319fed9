"""server.json, the MCP Registry's entry for this server: the PyPI package (stdio) and the remote (streamable HTTP).

The registry's schema file is not vendored here (public repository content stays out of this repository), so the
rules it and the publish-time validator apply are checked one by one, each citing its source in
github.com/modelcontextprotocol/registry: the schema `internal/validators/schemas/2025-12-11.json` ($id
https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json), the semantic checks of
`internal/validators/validators.go` and `utils.go` (IsValidRemoteURL), and the PyPI ownership check of
`internal/validators/registries/pypi.go`. Beyond the registry, every variable must be one the server really reads.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import alibabacloud_credentials.utils.auth_util as auth_util
import pytest

from ack_compute.server.cli import main
from ack_compute.server.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SERVER = json.loads((REPO / "server.json").read_text())
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
# validators.go serverNameRegex: namespacePattern "/" namePartPattern.
SERVER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]/[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
# validators.go looksLikeVersionRange, the comparator and wildcard cases.
VERSION_RANGE = re.compile(r"^\s*(?:\^|~|>=|<=|>|<|=)|[xX*](?:\.|$)|\|\||\s-\s")
# The schema's Input / KeyValueInput / InputWithVariables properties: anything else is a typo nobody reads.
INPUT_KEYS = {"choices", "default", "description", "format", "isRequired", "isSecret", "placeholder", "value"}
SECRET_WORDS = ("KEY_SECRET", "KEY_ID", "TOKEN", "PASSWORD", "SECRET")


def package() -> dict[str, Any]:
    (only,) = SERVER["packages"]
    return only


def remote() -> dict[str, Any]:
    (only,) = SERVER["remotes"]
    return only


def credential_variables() -> set[str]:
    """The variables the Alibaba Cloud credentials chain (the server's only credentials source) reads."""
    source = Path(auth_util.__file__).read_text()
    return set(re.findall(r"os\.environ\.get\('([A-Z_]+)'", source))


def settings_variables() -> set[str]:
    names = {f"ACK_COMPUTE_{name.upper()}" for name in Settings.model_fields}
    choices = getattr(Settings.model_fields["region"].validation_alias, "choices", [])
    return names | {c for c in choices if isinstance(c, str) and c.isupper()}


def test_identity_follows_the_schema_and_the_package() -> None:
    assert SERVER["$schema"] == SCHEMA_URL
    assert SERVER_NAME.match(SERVER["name"]) and 3 <= len(SERVER["name"]) <= 200
    assert 1 <= len(SERVER["description"]) <= 100 and 1 <= len(SERVER["title"]) <= 100
    assert SERVER["version"] == PROJECT["version"] and not VERSION_RANGE.search(SERVER["version"])
    assert set(SERVER) <= {"$schema", "_meta", "name", "title", "description", "version", "packages", "remotes",
                           "repository", "websiteUrl", "icons"}  # fmt: skip


def test_the_pypi_package_is_this_one() -> None:
    pkg = package()
    assert (pkg["registryType"], pkg["registryBaseUrl"]) == ("pypi", "https://pypi.org")
    assert pkg["identifier"] == PROJECT["name"] and pkg["version"] == PROJECT["version"] != "latest"
    assert pkg["transport"] == {"type": "stdio"}, "stdio takes no url (validators.go validatePackageTransport)"
    # uvx runs the console script named like the package, with the package arguments after it.
    assert pkg["runtimeHint"] == "uvx" and PROJECT["name"] in PROJECT["scripts"]
    args = [a["value"] for a in pkg["packageArguments"] if a["type"] == "positional"]
    assert args == ["serve"]
    with pytest.raises(SystemExit) as ended:
        main([*args, "--help"])  # a command the CLI has
    assert ended.value.code == 0


def test_the_registry_can_verify_we_own_the_pypi_name() -> None:
    """pypi.go: the package's PyPI description (our README) must contain `mcp-name: <server name>`."""
    assert PROJECT["readme"] == "README.md"
    assert f"mcp-name: {SERVER['name']}" in (REPO / "README.md").read_text()


def test_environment_variables_are_ones_the_server_reads_and_secrets_are_marked() -> None:
    known = credential_variables() | settings_variables()
    assert {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} <= credential_variables()
    for variable in package()["environmentVariables"]:
        name = variable["name"]
        assert name in known, f"{name}: neither a setting nor a credentials variable"
        assert set(variable) - {"name"} <= INPUT_KEYS, name
        assert variable.get("isSecret", False) == any(word in name for word in SECRET_WORDS), name
        assert not (variable.get("isSecret") and "default" in variable), name


def test_the_defaults_are_accepted_by_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = {v["name"]: v["default"] for v in package()["environmentVariables"] if "default" in v}
    assert defaults
    for name, value in defaults.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.region == defaults["ACK_COMPUTE_REGION"] and settings.read_only is False


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{([^{}]+)\}", text))


def test_the_remote_is_streamable_http_on_the_servers_path_with_a_bearer_token() -> None:
    entry = remote()
    assert entry["type"] == "streamable-http"
    # utils.go IsValidRemoteURL: https, not localhost (templates replaced first).
    url = urlsplit(entry["url"].replace("{host}", "mcp.example.com"))
    assert url.scheme == "https" and url.hostname not in ("localhost", "127.0.0.1")
    assert url.path == "/mcp", "where `serve --http` serves MCP"
    # validators.go IsValidTemplatedURL: every {variable} of the URL is declared.
    assert _placeholders(entry["url"]) == set(entry["variables"]) == {"host"}
    assert all(set(v) <= INPUT_KEYS for v in entry["variables"].values())
    (header,) = entry["headers"]
    assert header["name"] == "Authorization" and header["value"].startswith("Bearer ")
    assert header["isSecret"] is True and header["variables"]["token"]["isSecret"] is True
    assert _placeholders(header["value"]) == set(header["variables"])
    assert set(header) - {"name", "variables"} <= INPUT_KEYS
