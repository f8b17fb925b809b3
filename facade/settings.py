"""All configuration, from the environment (prefix ``FACADE_``) or a ``.env`` file.

Environments (DESIGN.md "Upstream"):
- ``embedded``: ``serve`` starts the bundled athenahealth emulator on loopback and
  talks to it with the emulator's documented local-dev credentials;
- ``preview`` / ``production``: real athenahealth hosts; credentials come from
  ``FACADE_ATHENA_CLIENT_ID`` / ``FACADE_ATHENA_CLIENT_SECRET`` and never mix
  between the two (the host alone selects the environment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ATHENA_HOSTS = {
    "preview": "https://api.preview.platform.athenahealth.com",
    "production": "https://api.platform.athenahealth.com",
}
DEV_CLIENT_ID = "local-dev"
DEV_CLIENT_SECRET_DEFAULT = "local-dev-secret"  # documented local-dev default (DESIGN.md)
EMULATOR_CLIENT_ID = "facade-dev"
EMULATOR_CLIENT_SECRET = "facade-dev-secret"  # the emulator's documented local-dev default
DEMO_PASSWORD_DEFAULT = "demo-password"  # documented password of the embedded demo users


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACADE_", env_file=".env", extra="ignore")

    environment: Literal["embedded", "preview", "production"] = "embedded"
    host: str = "127.0.0.1"
    port: int = 8080
    # Chosen by `athena-facade bench` on 2 cores (README "Benchmark"): 2 workers beat 1 by
    # 1.3-2x; both servers pass the cached-read target with 2 workers, and on uncached reads
    # (what every search is) uvicorn x2 had the higher throughput and lower p99 in 2 of 3 runs.
    server: Literal["granian", "uvicorn"] = "uvicorn"
    workers: int = Field(default=2, ge=1, description="Server worker processes")
    public_base_url: str | None = Field(
        default=None,
        description="Absolute URL clients use to reach the facade (default http://host:port)",
    )
    data_dir: Path = Path("var")

    # upstream (athenahealth)
    athena_base_url: str | None = Field(
        default=None, description="Override the athena host (embedded: the emulator's URL)"
    )
    athena_client_id: str | None = None
    athena_client_secret: SecretStr | None = None
    # athena's FHIR API grants per type (API-NOTES §2.2): every type a table reads there.
    athena_scope: str = (
        "athena/service/Athenanet.MDP.* system/Patient.read system/Encounter.read"
        " system/Condition.read system/Provenance.read system/Practitioner.read"
        " system/Location.read system/Organization.read system/Coverage.read"
        " system/AllergyIntolerance.read system/Binary.read system/CarePlan.read"
        " system/CareTeam.read system/Device.read system/DiagnosticReport.read"
        " system/DocumentReference.read system/Goal.read system/Immunization.read"
        " system/Medication.read system/MedicationDispense.read system/MedicationRequest.read"
        " system/Observation.read system/Procedure.read system/QuestionnaireResponse.read"
        " system/RelatedPerson.read system/ServiceRequest.read system/Specimen.read"
        " system/Media.read"
    )
    default_practice: str = "195900"
    practices: list[str] = Field(default_factory=lambda: ["195900", "195901"])
    upstream_connect_timeout: float = 3.0
    # after an ambiguous write (timeout), read athena back this many times, this far apart
    # finished idempotency records are kept this long (a retry after that books anew)
    idempotency_retention_seconds: int = 7 * 24 * 3600
    write_readback_attempts: int = 3
    write_readback_interval: float = 0.5
    upstream_read_timeout: float = 10.0
    upstream_max_connections: int = 256
    # the engine's calls: "h1" = the lean HTTP/1.1 client (facade/upstream/h1.py, measured in
    # bench P2), "aiohttp" = an aiohttp session; token calls use httpx over aiohttp for both;
    # "httpx" = httpx's own transport for everything
    upstream_transport: Literal["h1", "aiohttp", "httpx"] = "h1"
    upstream_token_refresh_margin: int = 60
    # a serving worker's garbage collector (facade/collector.py, measured in bench P2):
    # container allocations between young collections (0 = Python's 700), and whether what
    # is alive after start-up is frozen out of later collections
    gc_young_threshold: int = Field(default=50_000, ge=0)
    gc_freeze: bool = True
    emulator_port: int = 0  # embedded: 0 picks a free loopback port
    request_deadline_seconds: float = Field(
        default=15.0, description="Bound on one FHIR request: upstream queueing, retries, calls"
    )
    upstream_rate_per_second: float = (
        90.0  # per practice and surface, whole deployment; athena: 100/s
    )
    upstream_burst: int = 90
    upstream_queue_max_wait: float = 2.0
    upstream_queue_max_waiters: int = 1024
    upstream_retry_attempts: int = 3
    upstream_retry_base_seconds: float = 0.1
    upstream_retry_cap_seconds: float = 2.0
    breaker_failure_threshold: int = 5
    breaker_open_seconds: float = 10.0

    # entity cache (per-type TTLs come from the mapping tables)
    cache_enabled: bool = True
    cache_max_entries: int = 20_000

    # FHIR behaviour
    default_count: int = 20
    max_count: int = 100
    max_upstream_pages_per_request: int = 10
    max_upstream_pages_per_count: int = (
        50  # _summary=count / _total=accurate over filtered searches
    )
    allow_scan: bool = True
    cursor_ttl_seconds: int = 3600
    # how long the athena page a search page stopped inside is kept for its next link
    # (facade/engine/page_reuse.py); 0 reads every page again
    search_page_reuse_seconds: float = Field(default=20.0, ge=0)

    # real-time eligibility (README "Eligibility"): how long $submit waits for a slow payer's
    # 271 (within the request deadline) before answering queued, and how often it asks athena
    eligibility_wait_seconds: float = Field(default=8.0, ge=0)
    eligibility_poll_interval: float = Field(default=1.0, gt=0)

    # facade authorization server (local-dev client, SMART discovery)
    dev_client_secret: SecretStr = SecretStr(DEV_CLIENT_SECRET_DEFAULT)
    token_ttl_seconds: int = 3600
    signing_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key for access tokens and paging cursors (default: generated in data_dir)",
    )

    # credential vault (README "Credential vault"): secrets encrypted at rest when a master
    # key is configured
    vault_master_key: SecretStr | None = Field(
        default=None,
        description="Vault master keys: kid:base64key[,kid:base64key...], first active",
    )
    vault_key_file: Path | None = Field(
        default=None, description="A file holding the vault master keys (mode 0600)"
    )

    # audit trail (README "Audit trail")
    audit_enabled: bool = Field(
        default=True, description="Record an AuditEvent for every interaction and security event"
    )
    audit_retention_days: int = Field(
        default=6 * 365, ge=1, description="Audit records older than this are pruned at start"
    )
    audit_queue_size: int = Field(
        default=10_000, ge=1, description="Audit records waiting for the writer, per process"
    )

    # SMART on FHIR authorization server (README "SMART on FHIR")
    backend_token_ttl_seconds: int = 300  # client_credentials (Backend Services recommends 300)
    auth_code_ttl_seconds: int = 60
    refresh_token_ttl_seconds: int = 90 * 24 * 3600
    launch_ttl_seconds: int = 3600  # EHR launch values
    # The EHR launcher (/auth/launch) mints launch contexts for any patient: a test EHR.
    # On by default only in embedded mode; a deployment behind a real EHR turns it on
    # explicitly (and protects it at the network edge).
    ehr_launcher: bool | None = None
    authorize_session_ttl_seconds: int = 900  # login -> picker -> consent
    demo_users: bool = True  # dr.demo and patient.demo (embedded mode)
    demo_password: SecretStr = SecretStr(DEMO_PASSWORD_DEFAULT)
    jwks_url_allow: list[str] = Field(
        default_factory=lambda: ["https://", "http://127.0.0.1:", "http://localhost:"],
        description="URL prefixes a client's JWKS URL may start with (https or loopback only)",
    )
    dynamic_registration: bool = True  # RFC 7591 for public and asymmetric clients
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed to call the FHIR API and token endpoints from a browser "
        "(SMART browser apps); [] turns CORS off",
    )

    # Bounded work per request (facade/api/limits.py, README "Limits"), checked before routing
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, description="Largest request body")
    max_parameters: int = Field(
        default=100, ge=1, description="name=value pairs in a query string or form body"
    )
    max_parameter_values: int = Field(
        default=20, ge=1, description="Values of one parameter: repeats and comma-separated values"
    )
    max_parameter_length: int = Field(
        default=8192, ge=1, description="Characters of one parameter name or value"
    )
    max_json_depth: int = Field(default=64, ge=1, description="Nesting of a JSON body")
    # sign-in throttling (README "SMART on FHIR"): failed sign-ins are counted per user and
    # per client address over a sliding window, shared by the workers (auth.sqlite3)
    login_throttle_user_failures: int = Field(default=5, ge=1)
    login_throttle_address_failures: int = Field(default=20, ge=1)
    login_throttle_window_seconds: int = Field(default=300, ge=1)
    # how long a worker trusts that a token it checked is not revoked (this worker's own
    # revocations apply at once; other workers' within this time); 0 checks every request
    revocation_recheck_seconds: float = Field(default=1.0, ge=0, le=30)

    # clients' JWKS URLs (README "SMART on FHIR", facade/auth/remote_jwks.py)
    jwks_allow_loopback: bool | None = Field(
        default=None,
        description="JWKS URLs on loopback (127.0.0.0/8, ::1, localhost); default: embedded only",
    )
    jwks_fetch_timeout_seconds: float = Field(default=3.0, gt=0)  # whole fetch; failures wait it
    jwks_max_bytes: int = Field(default=65536, ge=1024)

    @model_validator(mode="after")
    def _check_environment(self) -> Settings:
        # every problem at once, one per line, in plain words (facade/config_check.py)
        problems = []
        env = self.environment
        if env != "embedded":
            if self.dev_client_secret.get_secret_value() == DEV_CLIENT_SECRET_DEFAULT:
                problems.append(
                    "FACADE_DEV_CLIENT_SECRET is still the local-dev default: set a secret of"
                    f" your own in {env}"
                )
            if self.demo_users and self.demo_password.get_secret_value() == DEMO_PASSWORD_DEFAULT:
                problems.append(
                    f"the demo users' default password is refused in {env}: set"
                    " FACADE_DEMO_USERS=false (or another FACADE_DEMO_PASSWORD)"
                )
            vault = self.vault_master_key is not None or self.vault_key_file is not None
            # with a vault the secret may be there (checked at start: facade/vault/runtime)
            missing = [
                name
                for name, value in (
                    ("FACADE_ATHENA_CLIENT_ID", self.athena_client_id),
                    ("FACADE_ATHENA_CLIENT_SECRET", self.athena_client_secret or vault),
                )
                if not value
            ]
            if missing:
                problems.append(
                    f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required in"
                    f" {env}: athena's credentials for its {env} environment"
                )
        if self.default_practice not in self.practices:
            problems.append(
                f"FACADE_DEFAULT_PRACTICE ({self.default_practice}) must be one of"
                f" FACADE_PRACTICES ({', '.join(self.practices)})"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def launcher_enabled(self) -> bool:
        if self.ehr_launcher is None:
            return self.environment == "embedded"
        return self.ehr_launcher

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def fhir_base(self) -> str:
        return f"{self.base_url}/fhir/r4"

    @property
    def mcp_url(self) -> str:
        """The MCP Streamable HTTP endpoint (facade/mcp), a resource of this same server."""
        return f"{self.base_url}/mcp"

    @property
    def resource_indicators(self) -> tuple[str, ...]:
        """The RFC 8707 ``resource`` values naming this one resource server (token audiences):
        the FHIR base (the default), the MCP endpoint and the server's own base URL."""
        return (self.fhir_base, self.mcp_url, self.base_url)

    def upstream_base(self) -> str:
        if self.athena_base_url:
            return self.athena_base_url.rstrip("/")
        if self.environment == "embedded":
            raise ValueError("embedded mode needs the emulator URL (athena_base_url)")
        return ATHENA_HOSTS[self.environment]

    def upstream_credentials(self) -> tuple[str, str]:
        if self.athena_client_id and self.athena_client_secret:
            return self.athena_client_id, self.athena_client_secret.get_secret_value()
        return EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET

    # idempotency ledger claims (README "Idempotent writes"); appended here, with their check
    idempotency_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a keyed write holds its key; a crashed holder's key is taken "
        "over after this (longer than the request deadline plus the read-back)",
    )
    idempotency_wait_interval: float = Field(
        default=0.05,
        gt=0,
        description="How often a request waiting for another one's key polls the ledger",
    )

    @model_validator(mode="after")
    def _check_lease(self) -> Settings:
        # A live holder must never lose its key mid-write: its lease, renewed just before
        # the upstream call, outlasts the request deadline and the read-back that follows.
        held = self.request_deadline_seconds + self.write_readback_attempts * (
            self.write_readback_interval
        )
        if self.idempotency_lease_seconds <= held:
            raise ValueError(
                "idempotency_lease_seconds must exceed request_deadline_seconds plus"
                f" write_readback_attempts x write_readback_interval ({held:g} s)"
            )
        return self

    # events (README "Events", facade/events/): Subscriptions, the outbox, athena's feeds
    events_enabled: bool = Field(
        default=True, description="Run the event engine (feeds, fan-out, deliveries) in workers"
    )
    events_feeds: list[str] = Field(
        default_factory=lambda: ["appointments", "patients", "claims"],
        description="athena changed-data feeds polled (mappings/events/feeds.yaml)",
    )
    events_poll_interval_seconds: float = Field(default=15.0, gt=0)
    events_poll_lease_seconds: float = Field(default=60.0, gt=0)
    events_replay_margin_seconds: float = Field(
        default=300.0, ge=0, description="How far before a lost poll its records are re-read"
    )
    events_retry_schedule: list[float] = Field(
        default_factory=lambda: [10.0, 60.0, 300.0, 1800.0, 7200.0, 18000.0, 43200.0],
        description="Seconds before each retry of a failed delivery (then dead-letter)",
    )
    events_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    events_delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    events_delivery_concurrency: int = Field(default=16, ge=1)
    events_endpoint_concurrency: int = Field(default=2, ge=1)
    events_delivery_lease_seconds: float = Field(default=60.0, gt=0)
    events_heartbeat_min_seconds: int = Field(default=10, ge=1)
    events_max_subscriptions_per_client: int = Field(default=50, ge=1)
    events_replay_max: int = Field(default=100, ge=1)
    events_retention_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    events_idle_seconds: float = Field(
        default=1.0, gt=0, description="How often idle workers look for work other workers queued"
    )
    events_allow_loopback: bool | None = Field(
        default=None,
        description="rest-hook endpoints on loopback (http allowed); default: embedded",
    )
    events_allow_private_hosts: list[str] = Field(
        default_factory=list, description="rest-hook hosts allowed on private addresses"
    )
    events_athena_push_secret: SecretStr | None = Field(
        default=None,
        description="X-Hub-Secret of athena's Event Subscription Platform: enables the inbound "
        "endpoint /events/athena",
    )

    @property
    def events_loopback_allowed(self) -> bool:
        if self.events_allow_loopback is None:
            return self.environment == "embedded"
        return self.events_allow_loopback

    @property
    def jwks_loopback_allowed(self) -> bool:
        if self.jwks_allow_loopback is None:
            return self.environment == "embedded"
        return self.jwks_allow_loopback

    # Bulk Data export (README "Bulk Data", facade/bulk/): jobs, files and their own budget
    bulk_enabled: bool = True
    bulk_dir: Path | None = Field(
        default=None, description="Where export files are written (default: {data_dir}/bulk)"
    )
    bulk_file_ttl_seconds: int = Field(
        default=3600, ge=1, description="How long a finished export's files are kept"
    )
    bulk_max_jobs_per_client: int = Field(
        default=2, ge=1, description="Running (queued or in progress) exports per client"
    )
    bulk_jobs_per_worker: int = Field(
        default=2, ge=1, description="Exports one worker runs at once"
    )
    bulk_rate_per_second: float = Field(
        default=10.0,
        gt=0,
        description="athena calls per second for exports, per practice and surface, whole "
        "deployment: a budget of its own, on top of upstream_rate_per_second",
    )
    bulk_burst: int = Field(default=10, ge=1)
    bulk_parallel_searches: int = Field(
        default=4, ge=1, description="Concurrent patient searches within one export"
    )
    bulk_lease_seconds: float = Field(
        default=15.0, gt=0, description="A job's claim; a dead worker's job is resumed after it"
    )
    bulk_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often workers look for jobs to run or resume"
    )
    bulk_retry_after_seconds: int = Field(
        default=2, ge=1, description="Retry-After on an export's in-progress status"
    )
    bulk_native: bool = Field(
        default=True,
        description="Use athena's own Group $export for the types athena's FHIR API serves",
    )
    bulk_cpu_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Share of a worker's event loop that mapping athena's export files may take",
    )
    bulk_native_timeout_seconds: float = Field(
        default=1800.0, gt=0, description="How long to wait for athena's export before paging"
    )

    # scale-out (README "Scale-out"): several hosts on shared state behind a load balancer
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://… : every durable record in one PostgreSQL database "
        "shared by the hosts (default: SQLite files under data_dir)",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://… : the cluster-wide rate budget, cache invalidation and "
        "revocation fan-out (default: in process)",
    )
    cluster_hosts: int = Field(
        default=1,
        ge=1,
        description="Facade hosts sharing the deployment's upstream budget; without Redis "
        "each host keeps 1/cluster_hosts of it",
    )
    jwks_file: Path | None = Field(
        default=None,
        description="id_token signing keys (private JWKS); required with FACADE_DATABASE_URL "
        "so that every host signs with the same keys (default: {data_dir}/jwks.json)",
    )

    @model_validator(mode="after")
    def _check_shared(self) -> Settings:
        """Shared mode never generates host-local keys: tokens, paging links and id_tokens
        issued by one host must verify on every other."""
        if self.database_url is not None:
            missing = [
                name
                for name, value in (
                    ("FACADE_SIGNING_SECRET", self.signing_secret),
                    ("FACADE_JWKS_FILE", self.jwks_file),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    "FACADE_DATABASE_URL (shared state) needs the keys every host shares: set "
                    + " and ".join(missing)
                )
            if self.jwks_file is not None and not self.jwks_file.exists():
                raise ValueError(f"FACADE_JWKS_FILE does not exist: {self.jwks_file}")
        return self

    @property
    def shared(self) -> bool:
        return self.database_url is not None

    @property
    def database(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None

    @property
    def redis(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None

    @property
    def jwks_path(self) -> Path:
        return self.jwks_file or self.data_dir / "jwks.json"

    @property
    def bulk_path(self) -> Path:
        return self.bulk_dir or self.data_dir / "bulk"

    # operations (README "Operations")
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Log lines: one JSON object each (json) or plain text with time and level",
    )
    access_log: bool = Field(
        default=True, description="One JSON line per request (facade/api/accesslog.py)"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics requires; unset: open in embedded mode only",
    )

    @field_validator("athena_base_url", "public_base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value
