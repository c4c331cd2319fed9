"""Operator settings: environment (ACK_COMPUTE_*), overridden by CLI flags. Never credentials."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ack_compute.tools.budgets import BudgetAmount
from ack_compute.tools.errors import CloudKind
from ack_compute.tools.ledger import LEDGER_FILE
from ack_compute.tools.plans import REGION_PATTERN
from ack_compute.tools.pricing import site_currency

SANDBOX_HANDS_ON_SCALE = 120.0  # a 6-minute cluster in 3 s: fast enough to try by hand, slow enough to see progress
# The tools a read-only server registers (server/app.py), besides the docs and the ledger: the one list that `serve
# --help`, doctor and this setting's description name. None creates, changes or deletes anything.
READ_ONLY_TOOLS: tuple[str, ...] = ("estimate_cost", "doc_search", "get_operation", "list_resources")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACK_COMPUTE_", extra="ignore", populate_by_name=True)

    region: str = Field(
        "cn-hangzhou",
        pattern=REGION_PATTERN,
        validation_alias=AliasChoices("region", "ACK_COMPUTE_REGION", "ALIBABA_CLOUD_REGION"),
        description="Default region for plans that name none.",
    )
    state_dir: Path = Field(
        default_factory=lambda: platformdirs.user_state_path("ack-compute-mcp"),
        description="Where the SQLite ledger (unless database_url is set) and the generated quote secret live.",
    )
    quote_ttl_seconds: int = Field(900, ge=60, le=86400, description="How long a quote stays valid.")
    # Budget caps bound what runs: the hourly cost of everything live this server created (priced by the quotes
    # that paid for it) plus the plan asked for; checked at estimate time and again when a quote is redeemed.
    max_hourly: Decimal | None = Field(
        None, gt=0, description="Budget cap: most everything live this server created may cost per hour."
    )
    max_hourly_per_caller: Decimal | None = Field(
        None, gt=0, description="Budget cap: most everything live one caller's quotes paid for may cost per hour."
    )
    max_per_quote: Decimal | None = Field(None, gt=0, description="Budget cap: most one quote may total.")
    # Budgets per caller (in budget_currency): accrued today (this month) + what live leases still commit + the new
    # quote's total must stay within them. These defaults apply to every caller whose tokens-file entry or policy
    # file entry sets none, and to the local operator (stdio, or HTTP without authentication).
    daily_budget: BudgetAmount | None = Field(
        None, description="Default budget per caller per UTC day (accrued + committed + the new quote)."
    )
    monthly_budget: BudgetAmount | None = Field(None, description="Default budget per caller per UTC month.")
    caller_policy_file: Path | None = Field(
        None,
        description="JSON file of budgets per caller subject (OAuth callers): "
        '{"callers": {"<subject>": {"daily_budget": 5, "monthly_budget": 100}}}.',
    )
    budget_currency: str = Field(
        "", pattern=r"^([A-Z]{3})?$", description="Currency of the caps and budgets; by default the site's (CNY, USD)."
    )
    # Leases (tools/reaper.py): what a quote's hours bound ends at redemption + hours + this grace.
    lease_grace_seconds: float = Field(
        600, ge=0, le=86400, description="How long past its lease's end a resource may run before it is reaped."
    )
    lease_policy: Literal["delete", "warn", "off"] = Field(
        "delete", description="At a lease's end (plus grace): delete what it bounds, only warn, or do nothing."
    )
    lease_check_seconds: float = Field(30, ge=1, le=3600, description="How often `serve` looks for leases that ended.")
    # Several replicas on one ledger (tools/replicas.py): the replica running an operation renews its hold every
    # heartbeat; when a replica dies, another takes its operations over once the hold lapses (within lease +
    # heartbeat). The same hold keeps once-only work (lease reaper, resuming) on one replica at a time.
    operation_lease_seconds: float = Field(
        30, ge=2, le=3600, description="How long a replica's hold on an operation lasts unrenewed (takeover bound)."
    )
    operation_heartbeat_seconds: float = Field(
        10, gt=0, le=1800, description="How often a replica renews its holds; shorter than operation_lease_seconds."
    )
    price_drift_tolerance: Decimal = Field(Decimal("0.05"), ge=0, le=1)
    confirmation: Literal["token", "human"] = Field(
        "token",
        description="When the client cannot ask the person: token = the signed quote suffices; human = refuse.",
    )
    site: Literal["china", "international"] = Field("china", description="Account site; sets the currency.")
    rate_table: Path | None = Field(None, description="JSON rate table replacing the built-in one.")
    quote_secret: SecretStr | None = Field(None, description="Signing secret (32+ characters); else generated.")
    quote_secret_rotate: bool = Field(
        False,
        description="With database_url: take this quote secret although the shared ledger's servers used another "
        "(stop every replica first; quotes issued before are refused).",
    )
    # Several replicas share one PostgreSQL ledger (and so one truth of which quote paid and what runs); unset, the
    # ledger is the SQLite file in the state dir. A secret: it carries the database password.
    database_url: SecretStr | None = Field(
        None, description="postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB for a team's shared ledger."
    )
    endpoint: str | None = Field(None, description="host[:port] for all OpenAPI calls (private endpoints, tests).")
    protocol: Literal["https", "http"] = "https"
    connect_timeout_ms: int = Field(5000, ge=100, le=60000)
    read_timeout_ms: int = Field(10000, ge=100, le=120000)
    sandbox: bool = Field(False, description="Run against the embedded sandbox cloud: no account, no network.")
    sandbox_time_scale: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="Sandbox clock speed-up for long operations; `serve --sandbox` and `demo` use "
        f"{SANDBOX_HANDS_ON_SCALE:g} unless it is set.",
    )
    kubeconfig_minutes: int = Field(
        60, ge=15, le=4320, description="Lifetime of the temporary kubeconfigs asked of ACK."
    )
    private_endpoint: bool = Field(False, description="Ask ACK for kubeconfigs on the cluster's private endpoint.")
    kubeconfig: Path | None = Field(
        None, description="Kubeconfig file for `context:<name>` clusters; default: $KUBECONFIG or ~/.kube/config."
    )
    sandbox_run_containers: bool = Field(
        True,
        description="Sandbox only: run pods' commands as local processes (off: pods succeed without running).",
    )
    probe_timeout_seconds: float = Field(3.0, gt=0, le=60, description="Per-cluster timeout when probing for reuse.")
    probe_concurrency: int = Field(32, ge=1, le=256, description="Clusters probed at once when looking for reuse.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    read_only: bool = Field(
        False,
        description=f"Offer only {', '.join(READ_ONLY_TOOLS)}, the docs and the ledger: nothing is created, changed "
        "or deleted, and no kubeconfig is fetched.",
    )
    # Kubeconfig contexts (`context:<name>` targets): none unless the operator lists them. Over HTTP a caller
    # may use a listed context if they are an admin, or their tokens-file entry (`contexts`) or OAuth scope
    # (`ack-compute:context:<name>`) names it.
    allowed_contexts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Kubeconfig contexts `context:<name>` may use (comma-separated); none by default.",
    )
    allow_exec_credentials: bool = Field(
        False,
        description="Let allowed contexts authenticate with exec credential plugins or auth-providers "
        "(they run programs on this machine).",
    )

    @model_validator(mode="after")
    def _site_currency(self) -> Settings:
        """Caps in another currency than the site's quotes would refuse every quote, so they follow the site."""
        if not self.budget_currency:
            self.budget_currency = site_currency(self.site)
        return self

    @field_validator("operation_heartbeat_seconds")
    @classmethod
    def _beat_within_lease(cls, value: float, info: ValidationInfo) -> float:
        lease = info.data.get("operation_lease_seconds")
        if lease is not None and value >= lease:
            raise ValueError(
                f"must be shorter than operation_lease_seconds ({lease:g}), or a live replica's operations would be "
                "taken over between two heartbeats; a third of the lease is a good value"
            )
        return value

    def ledger_target(self) -> Path | str:
        """Where the ledger lives: the shared database when one is set, else the SQLite file in the state dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.state_dir / LEDGER_FILE

    def cloud(self) -> CloudKind:
        """Which cloud this server's ledger records: the sandbox's or the real one's (whatever the site or account:
        the account is not known without a network call, and a team's keys and site settings may differ)."""
        return "sandbox" if self.sandbox else "alibaba-cloud"

    # HTTP access. The bearer token comes only from the environment or a file, never the command line.
    http_token: SecretStr | None = Field(
        None, description="Bearer token every HTTP request must carry (one identity, an admin); 32+ characters."
    )
    http_token_subject: str = Field("operator", min_length=1, max_length=128, description="Who http_token is.")
    http_tokens_file: Path | None = Field(
        None, description="JSON file of bearer tokens, one per person or bot: subject, token or sha256, admin."
    )
    oauth_issuer_url: str | None = Field(None, description="OAuth authorization server that issues the tokens.")
    oauth_introspection_url: str | None = Field(None, description="RFC 7662 introspection endpoint of the issuer.")
    oauth_resource_url: str | None = Field(None, description="This server's public /mcp URL (the token audience).")
    oauth_client_id: str | None = Field(None, description="Client id this server introspects tokens with.")
    oauth_client_secret: SecretStr | None = Field(None, description="Its secret (environment only).")
    oauth_required_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Scopes every token needs (comma-separated)."
    )
    admin_scope: str = Field(
        "ack-compute:admin", description="OAuth scope that lets a caller see and clean up everyone's resources."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host headers accepted over HTTP (comma-separated; host or host:port)."
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Browser Origins accepted over HTTP (comma-separated, scheme://host[:port])."
    )
    # Clients of MCP 2026-07-28 need no session on any replica. Clients of the 2025 handshake get one (held in one
    # replica's memory: behind a load balancer they need sticky sessions) unless this is off; then each of their
    # requests stands alone on any replica, but the server cannot push them the cost question (server/http_sessions.py).
    http_sessions: bool = Field(
        True,
        description="Keep a session per 2025-protocol HTTP client (needs sticky load balancing across replicas); "
        "off: any replica answers them, and they cannot be asked the cost question (the confirmation policy decides).",
    )

    @field_validator("http_token", "quote_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "use at least 32 random characters (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("allowed_contexts", "oauth_required_scopes", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        """One rule for every list setting: comma-separated, from the environment or from each repeated flag."""
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            return [part.strip() for item in items for part in str(item).split(",") if part.strip()]
        return value


ENV_PREFIX = "ACK_COMPUTE_"
# Read by this repository's install scripts, CI and tests (scripts/, .ci/run, tests/), never by the server: not
# settings, yet no misspelling either. tests/server/test_settings.py keeps this list equal to what those files read.
TOOLING_VARIABLES = frozenset(
    ENV_PREFIX + name
    for name in (
        "INSPECTOR",
        "INSPECTOR_CACHE",
        "INSPECTOR_VERSION",
        "KUBE_CACHE",
        "MCPB",
        "MCPB_CACHE",
        "MCPB_VERSION",
        "PG_BINDIR",
        "PG_DIR",
        "PG_USER",
        "REQUIRE_INSPECTOR",
        "REQUIRE_MCPB",
        "REQUIRE_POSTGRES",
        "REQUIRE_REAL_KUBE",
        "TEST_DATABASE_URL",
    )
)


def environment_name(field: str, environ: Mapping[str, str] | None = None) -> str:
    """The variable a setting is read from, as the operator wrote it: of several, the one set in `environ`, else
    the first. A name that is no setting (a field of a file the settings point at) stays as it is."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field
    if isinstance(info.validation_alias, AliasChoices):
        named = [c.upper() for c in info.validation_alias.choices if isinstance(c, str) and c.isupper()]
        given = {n.upper() for n in environ or {}}
        return next((n for n in named if n in given), named[0] if named else ENV_PREFIX + field.upper())
    return ENV_PREFIX + field.upper()


def _variables() -> set[str]:
    names = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    for info in Settings.model_fields.values():
        if isinstance(info.validation_alias, AliasChoices):
            names.update(c.upper() for c in info.validation_alias.choices if isinstance(c, str))
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """ACK_COMPUTE_* variables that are no setting, each with the one it most likely meant: the environment is
    read by prefix, so a misspelt budget cap would otherwise be ignored without a word."""
    known = {n for n in _variables() if n.startswith(ENV_PREFIX)}
    suffixes = {n.removeprefix(ENV_PREFIX): n for n in known}
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known and upper not in TOOLING_VARIABLES:
            # Compared without the prefix they share, which would make any two names look alike.
            close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), sorted(suffixes), n=1, cutoff=0.65)
            found.append(f"{name} (did you mean {suffixes[close[0]]}?)" if close else name)
    return found
