"""Which kubeconfig contexts a caller was granted: from a tokens-file entry or an OAuth scope, never more."""

from __future__ import annotations

from mcp.server.auth.provider import AccessToken

from ack_compute.server.access import STATIC_ADMIN_SCOPE, caller_of


def test_context_scopes_become_the_callers_grants() -> None:
    token = AccessToken(
        token="t",
        client_id="alice",
        subject="alice",
        scopes=["ack-compute:context:dev", "ack-compute:context:staging", "other"],
    )
    alice = caller_of(token, STATIC_ADMIN_SCOPE)
    assert (alice.subject, alice.admin, alice.contexts) == ("alice", False, frozenset({"dev", "staging"}))
    assert alice.may_use_context("dev") and not alice.may_use_context("prod")


def test_no_scope_grants_nothing_and_an_admin_needs_none() -> None:
    bob = caller_of(AccessToken(token="t", client_id="bob", subject="bob", scopes=[]), STATIC_ADMIN_SCOPE)
    assert not bob.may_use_context("dev")
    ops = caller_of(AccessToken(token="t", client_id="ops", scopes=[STATIC_ADMIN_SCOPE]), STATIC_ADMIN_SCOPE)
    assert ops.may_use_context("dev")
