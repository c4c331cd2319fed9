"""The sandbox and the product held to the cloud's published truth.

- requests: every body/query the product sends (recorded flows) uses only fields the installed SDK's request model
  defines and none it marks `**[Deprecated]**` (read from the SDK's files, so an SDK upgrade updates the check);
- responses: every answer the sandbox gives, for every action it serves, deserialises into the SDK's response
  model with no key the model does not define (`Model().from_map(body).to_map()` compared recursively) and
  none it marks deprecated;
- errors: every error code the sandbox answers is one Alibaba documents for that action, with the documented
  HTTP status (documented_errors.json, each with its source);
- the decommissioned APIs are refused (and test_flows.py: never called).
Each test prints how many facts it checked.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import ack_compute.sandbox
from ack_compute.sandbox import sdk_marks
from ack_compute.sandbox.app import ROUTE_MODULES
from ack_compute.sandbox.cs.urls import DECOMMISSIONED

PACKAGES = {
    "2015-12-15": "alibabacloud_cs20151215",
    "2014-05-26": "alibabacloud_ecs20140526",
    "2016-04-28": "alibabacloud_vpc20160428",
    "2018-08-08": "alibabacloud_eci20180808",
    "2017-12-14": "alibabacloud_bssopenapi20171214",
}
KUBE_PACKAGES = ("kube", "kubelet")
DOCUMENTED = json.loads(Path(__file__).with_name("documented_errors.json").read_text())


def served() -> set[str]:
    return {route.action for module in ROUTE_MODULES for route in module.ROUTES}


def request_findings(exchange: Any) -> tuple[int, list[str]]:
    """(facts checked, problems) for one request: its query keys and JSON body against `{Action}Request`."""
    package = PACKAGES[exchange.version]
    model = f"{exchange.action}Request"
    fields = sdk_marks.models(package).get(model, {})
    problems: list[str] = []
    checked = 0
    for key in exchange.query:
        top = key.split(".")[0]
        checked += 1
        field = fields.get(top)
        if field is None:
            problems.append(f"{exchange.action}: query {key} is not a field of {model}")
        elif field.deprecated:
            problems.append(f"{exchange.action}: query {key} is deprecated in {model}")
    body = exchange.json_body() if exchange.body else None
    if isinstance(body, dict):
        checked += len(body)
        for finding in sdk_marks.check_body(package, model, body):
            problems.append(f"{exchange.action}: body {finding.path} is {finding.problem} in {model}")
    return checked, problems


def test_every_request_uses_only_current_sdk_fields(flows, driven) -> None:  # type: ignore[no-untyped-def]
    checked, problems = 0, []
    for exchange in flows.exchanges:
        count, found = request_findings(exchange)
        checked += count
        problems += found
    print(f"\nrequests: {len(flows.exchanges)} requests, {checked} fields checked against the SDK request models")
    assert problems == []


def extra_keys(body: Any, model: Any, path: str = "") -> list[str]:
    """Keys of `body` that `model` (what from_map kept, as to_map gives it back) lacks, recursively."""
    if isinstance(body, dict) and isinstance(model, dict):
        found = []
        for key, value in body.items():
            where = f"{path}.{key}" if path else key
            if key not in model:
                found.append(where)
            else:
                found += extra_keys(value, model[key], where)
        return found
    if isinstance(body, list) and isinstance(model, list):
        return [p for i, (b, m) in enumerate(zip(body, model, strict=False)) for p in extra_keys(b, m, f"{path}[{i}]")]
    return []


def count_keys(body: Any) -> int:
    if isinstance(body, dict):
        return len(body) + sum(count_keys(v) for v in body.values())
    if isinstance(body, list):
        return sum(count_keys(v) for v in body)
    return 0


def test_every_answer_fits_the_sdk_response_model(flows, driven) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    problems: list[str] = []
    checked = 0
    for exchange in flows.exchanges + driven:
        if not 200 <= exchange.status < 300:
            continue
        models = importlib.import_module(f"{PACKAGES[exchange.version]}.models")
        body = exchange.json_response()
        parsed = getattr(models, f"{exchange.action}ResponseBody")().from_map(body).to_map()
        problems += [f"{exchange.action}: {key}" for key in extra_keys(body, parsed)]
        # "DescribeClusterDetail no longer returns deprecated fields" (Alibaba's 2026 announcement): no answer does.
        marks = sdk_marks.check_body(PACKAGES[exchange.version], f"{exchange.action}ResponseBody", body)
        problems += [f"{exchange.action}: {f.path} is deprecated" for f in marks if f.problem == "deprecated"]
        checked += count_keys(body)
        seen.add(exchange.action)
    print(f"\nresponses: {len(seen)} actions, {checked} keys checked against the SDK response models")
    assert problems == []
    assert served() - seen == set(), "actions the sandbox serves that no recorded call reached"


def documented(action: str, code: str) -> dict[str, Any] | None:
    return DOCUMENTED["actions"].get(action, {}).get(code) or DOCUMENTED["gateway"].get(code)


def test_every_error_answered_is_documented_for_its_action(flows, driven) -> None:  # type: ignore[no-untyped-def]
    pending = set(DOCUMENTED["pending_source"])
    problems: list[str] = []
    unsourced: list[str] = []
    checked = 0
    for exchange in flows.exchanges + driven:
        if exchange.status < 400:
            continue
        body = exchange.json_response()
        code = body.get("Code") or body.get("code")
        checked += 1
        fact = documented(exchange.action, code)
        if fact is None:
            (unsourced if code in pending else problems).append(f"{exchange.action} -> {exchange.status} {code}")
            continue
        if fact["status"] != exchange.status:
            problems.append(f"{exchange.action} -> {exchange.status} {code}, documented {fact['status']}")
    print(f"\nerrors: {checked} error answers checked; without a source yet: {sorted(set(unsourced))}")
    assert problems == []
    assert checked >= 12


def test_every_code_in_the_sandbox_source_has_a_source_or_is_listed_as_pending() -> None:
    """A static inventory: each `ApiError(status, "Code", ...)` in sandbox/ is documented for some action, a
    gateway code, or listed in `pending_source` with what was searched (so a new invented code fails here)."""
    sandbox = Path(ack_compute.sandbox.__file__ or "").parent
    # The OpenAPI half: the core and the product packages (cs/, ecs/, ...); the kube emulator has its own errors.
    openapi = [path for path in sandbox.rglob("*.py") if path.relative_to(sandbox).parts[0] not in KUBE_PACKAGES]
    pattern = re.compile(r'ApiError\(\s*(?:\d{3}|self\.\w+)\s*,\s*(?:self\.code or )?"([A-Za-z][\w.]*)"')
    codes = {code for path in openapi for code in pattern.findall(path.read_text())}
    known = set(DOCUMENTED["gateway"]) | {code for table in DOCUMENTED["actions"].values() for code in table}
    unsourced = codes - known
    print(
        f"\nerror inventory: {len(codes)} codes in the sandbox, {len(codes & known)} with a source, "
        f"pending {sorted(unsourced)}"
    )
    assert unsourced <= set(DOCUMENTED["pending_source"])
    assert len(codes) > 40, "the pattern found too few codes: has the way errors are raised changed?"


def test_the_decommissioned_apis_are_refused_as_unknown(driven) -> None:  # type: ignore[no-untyped-def]
    """Alibaba's 2026 announcement: DescribeClusters, DescribeClustersV1 and the four upgrade APIs are gone."""
    assert not served() & set(DECOMMISSIONED)
    (refusal,) = [e for e in driven if e.action == "DescribeClustersV1"]
    body = refusal.json_response()
    assert (refusal.status, body["code"]) == (404, "InvalidAction.NotFound")
    assert body["message"] == "Specified api is not found, please check your url and method."
