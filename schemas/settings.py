"""The one settings object, read from environment variables (and an optional .env file)."""

from __future__ import annotations

import ssl
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SignInProvider(BaseModel):
    """An organisation's own identity provider (OpenID Connect): its members sign in through it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organisation: str = Field(min_length=1, max_length=120, pattern=r"^[a-z0-9][a-z0-9-]*$",
                              description="The organisation whose members sign in through it (one provider each)")
    name: str = Field(min_length=1, max_length=80, description='On the sign-in button: "Town Council"')
    issuer: str = Field(pattern=r"^https?://[^?#]+$", description="The provider's issuer; its discovery "
                        "document is read from {issuer}/.well-known/openid-configuration")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr | None = Field(None, description="From a secret store, never a file in the repository")
    client_private_key: SecretStr | None = Field(
        None, description="Instead of a secret: a PEM private key (RSA) whose public half is registered with the "
                          "provider; the client proves itself with a signed assertion (private_key_jwt)")
    claim: str = Field("email", min_length=1, max_length=60, description="Which ID token claim names the member: "
                       "matched exactly to the member's sign_in_name (often their work email, or Entra's oid)")

    @model_validator(mode="after")
    def _one_credential(self) -> SignInProvider:
        if (self.client_secret is None) == (self.client_private_key is None):
            raise ValueError(f"sign-in provider {self.organisation}: give client_secret or client_private_key, "
                             "not both")
        return self


class Settings(BaseSettings):
    """Every knob of the system. Each field's description is its documentation."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    state_dir: Path = Field(
        Path(".state"),
        description="Where the local broker's data, its jars and the SQLite read model live.",
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="Kafka to use. The default is the local broker that `journeys broker start` runs.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every Kafka client of the platform (API, worker, command line) talks to the "
                                 "brokers: SASL_SSL (TLS and a password) anywhere but a developer's machine.")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-256", description="The SASL mechanism (with SASL_SSL or SASL_PLAINTEXT).")
    kafka_sasl_username: str | None = Field(None, description="The platform's Kafka user (SASL).")
    kafka_sasl_password: str | None = Field(None, description="Its password (SASL); from a secret store, never a file "
                                                              "in the repository.")
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the certificate authority the brokers' certificates are checked against "
                          "(SSL, SASL_SSL); unset: the system's. Certificates and host names are always verified.")
    personal_data_key: str | None = Field(
        None, description="The key-encryption key that wraps every data key sealing personal data: 32 random bytes "
                          "as base64 (`openssl rand -base64 32`), from a secret store. Unset: the file "
                          "PERSONAL_DATA_KEY_FILE. Losing it loses every personal part; a KMS can hold it instead "
                          "(schemas/sealed.KeyEncryptionKey).")
    personal_data_key_file: Path | None = Field(
        None, description="A file holding the key-encryption key (base64). Unset: state_dir/personal-data.key, "
                          "made on first use (for development and the demo).")
    data_key_cache_s: float = Field(
        30.0, description="How long a process keeps a data key unwrapped. An erasure empties the read model at "
                          "once; another process may still seal a new event with the erased key for this long "
                          "(that event's personal part is then unreadable).")
    local_broker_port: int = Field(9092, description="Client port of the local broker.")
    local_controller_port: int = Field(9093, description="KRaft controller port of the local broker.")
    local_broker_heap: str = Field("768m", description="JVM heap of the local broker.")

    topic_prefix: str = Field("journeys.", description="Prefix of every topic the project creates.")
    topic_partitions: int = Field(4, description="Partitions of each topic (the unit of parallelism).")
    topic_replication_factor: int = Field(1, description="Replicas per partition; 3 in production.")
    topic_min_insync_replicas: int = Field(1, description="min.insync.replicas; 2 in production.")
    event_retention_ms: int = Field(
        -1, description="Retention of intake, person-events and dead-letter topics; -1 keeps forever."
    )
    update_retention_ms: int = Field(
        7 * 24 * 3600 * 1000,
        description="Retention of journey-updates; they can be rebuilt by replaying person-events.",
    )

    app_id: str = Field("journeys", description="Application id: the worker's consumer group is APP_ID.stages.")
    worker_batch_size: int = Field(
        2_000, description="Most records the worker takes in one batch from the topics its own stages feed "
                           "(person-events, taken first), and as many again from the others. Under load, "
                           "bigger batches share each batch's round trips (SQL commit, acknowledgements, offset "
                           "commit): 500 gave 1,570 events/s end to end, 2,000 gave 2,255, 5,000 no more. A "
                           "quiet stream makes small batches whatever this is.",
    )
    worker_batch_within_s: float = Field(0.01, description="Longest the worker waits for a fetch to fill.")
    worker_producer_linger_s: float = Field(
        0.0, description="How long the worker's producer waits to gather more before sending. The worker sends a "
                         "whole batch's outputs at once and waits for them, so any linger only adds latency.",
    )
    worker_session_timeout_s: float = Field(
        10.0, description="How long before a worker that stopped answering loses its partitions to another."
    )
    worker_decoded_histories: int = Field(
        10_000, description="How many people's decoded histories the worker keeps in memory besides their JSON "
                             "(decoding one costs a fifth of folding an event into it). 100,000 events of 10,500 "
                             "people: 2,000 gave 2,701 events/s end to end, 10,000 gave 3,447 and 20,000 2,958 "
                             "(each costs the garbage collector), for ~60 MB more.",
    )
    worker_state_cache_mib: int = Field(
        16, description="RocksDB block cache of the worker's stage states (streams/runtime/store.py), shared by every "
                        "stage and partition: the states themselves live in files under STATE_DIR/stages. "
                        "With this and the write buffer at 16 MiB the worker took 705 MB at 300,000 events "
                        "(31,500 people); at 64 and 32 MiB, 778 MB, at the same rate.",
    )
    worker_state_write_buffer_mib: int = Field(
        16, description="Memory for the stage states' newest writes before RocksDB flushes them to its files, "
                        "shared by every stage and partition.",
    )
    worker_handed_values: int = Field(
        20_000, description="How many values one stage sent to a topic another stage of the same worker reads are "
                            "kept decoded for it (streams/runtime/stage.py): room for ten batches that identify ran "
                            "ahead with; in a burst it runs further ahead, and follow decodes the rest. 50,000 kept "
                            "~130 MB more at the peak.",
    )
    worker_key_hashes: int = Field(
        262_144, description="How many keys' partitioner hashes the worker keeps (aiokafka's murmur2 is pure "
                             "Python, ~5 µs a key): a person's key is hashed once, not once per output.",
    )
    worker_producer_batch_kib: int = Field(
        512, description="Largest record batch the worker's producer builds per partition (outputs of a whole "
                         "batch are gathered into one record batch per partition).",
    )
    worker_producer_request_mib: int = Field(8, description="Largest request the worker's producer sends.")
    worker_fetch_mib: int = Field(32, description="Most the worker's consumer fetches in one request.")
    worker_fetch_partition_mib: int = Field(4, description="Most it fetches of one partition in one request.")
    worker_max_poll_interval_s: float = Field(
        300.0, description="Longest between two fetches before Kafka takes the worker's partitions away (a batch "
                           "whose read-model write waits for a database that is down keeps the worker from fetching).",
    )
    worker_restore_fetch_mib: int = Field(
        64, description="Most a restoring worker fetches of the changelogs in one request (restoring read "
                        "~200,000 records/s).",
    )
    worker_restore_partition_mib: int = Field(16, description="Most it fetches of one changelog partition at once.")
    worker_gc_thresholds: tuple[int, int, int] = Field(
        (1_000_000, 20, 100),
        description="Python's cycle collector thresholds in the worker. The stages make and drop a few hundred "
                    "thousand small objects a second, nearly all freed by reference counting. Measured on 30,000 "
                    "events, CPU per event: (700, 10, 10), Python's default, 350-430 µs; (50,000, 20, 100) "
                    "290-340 µs; collector off 270-290 µs. On 100,000 events (50,000, 20, 100) ran 45 collections "
                    "that found no garbage and took 2.1 s (one pause of 266 ms): each young object's references "
                    "reach a heap of hundreds of megabytes. With a million, none ran: 259-269 µs an event instead "
                    "of 293-306, at the same memory.",
    )
    worker_malloc_arenas: int = Field(
        2, description="glibc malloc arenas the worker's threads share. Read off a worker with gdb's malloc_stats() "
                       "at 300,000 events: 410 MB taken from the system, 242 MB in use; three threads' arenas held "
                       "52-54 MB each with 2-39 MB in use. Sharing two, and giving back free memory, took the "
                       "worker from 698-705 MB to 650 MB.",
    )
    worker_switch_interval_ms: float = Field(
        0.5, gt=0, description="How long the deciding thread may keep Python's lock while the read model's write "
                               "thread, back from a statement, waits for it (Python's default is 5 ms). Each "
                               "statement lets go of the lock; at 200 events/s a batch of a few events runs a dozen "
                               "statements, and each waited up to 5 ms: at 300,000 events a batch's write took "
                               "26 ms at the median (12 ms at 0.5) and the p50 from submission to visible was "
                               "250 ms (99 ms at 0.5).",
    )
    worker_trim_every_s: float = Field(
        10.0, description="How often the worker gives its free malloc pages back to the system (malloc_trim(0) "
                          "gave back 133 MB of 726 MB resident).",
    )
    worker_instance_id: str | None = Field(
        None,
        description="A name for this worker process that stays the same across its restarts (Kafka static "
                    "membership): a restarted worker takes its partitions back at once instead of waiting for "
                    "the session timeout. Each worker process needs its own; unset, membership is dynamic.",
    )

    journey_refold_days: int = Field(
        28,
        description="How late an event may arrive and still be folded into its place by event time; "
                    "the journey agent keeps this many days of a person's events (without personal data).",
    )
    fault_injection: str | None = Field(
        None,
        description="Tests only: 'after-outputs:P' or 'after-state:P' makes the worker SIGKILL itself with "
                    "probability P per batch once the batch's outputs (or outputs and state) are in Kafka "
                    "and before its offsets are committed (streams/runtime/faults.py).",
    )

    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the read model; default: an SQLite file in state_dir.",
    )
    database_sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        None, description="PostgreSQL's sslmode for the read model (verify-full anywhere but one machine); unset: "
                          "what the URL says, or libpq's default.")

    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8000, description="Port the API listens on.")
    max_payload_bytes: int = Field(65536, description="Largest request body accepted (413 past it, read no further).")
    rate_limit_per_second: float = Field(
        50.0, description="Requests per second each API key may make, on average (0: no limit); 429 past it.")
    rate_limit_burst: int = Field(250, description="Requests a key may make at once before the rate applies.")
    session_idle_minutes: int = Field(
        30, ge=1, description="A member's page session ends after this long without a request (their own phone "
                              "or computer).")
    session_lifetime_hours: float = Field(
        8.0, gt=0, description="A member's page session ends this long after sign-in, in use or not: a shift.")
    shared_device_idle_minutes: int = Field(
        10, ge=1, description="The same for a member who said at sign-in that the computer is shared (a day "
                              "centre's, a library's).")
    shared_device_lifetime_hours: float = Field(1.0, gt=0, description="The same, absolute, on a shared computer.")
    site_origin: str | None = Field(
        None, pattern=r"^https?://[^/?#]+$",
        description="The address members' browsers use for the pages, scheme and host (and port): "
                    "https://journeys.example.gov.uk. A passkey belongs to its host name, so this is fixed once "
                    "members have registered them. Unset: http://localhost:{API_PORT}, for one machine.")
    invitation_hours: float = Field(
        72.0, gt=0, le=24 * 14, description="How long a member's one-time invitation to register a passkey stays "
                                           "usable.")
    sign_in_providers: tuple[SignInProvider, ...] = Field(
        (), description="Organisations that sign their members in through their own OpenID Connect provider, as "
                        'JSON: [{"organisation": "town-council", "name": "Town Council", "issuer": '
                        '"https://login.microsoftonline.com/TENANT/v2.0", "client_id": "...", "client_secret": "...", '
                        '"claim": "email"}]. Register {SITE_ORIGIN}/sign-in/with/{organisation}/back as the redirect '
                        "address and {SITE_ORIGIN}/sign-in/with/{organisation}/signed-out for back-channel sign-out.")
    sign_in_failures_allowed: int = Field(
        10, ge=0, description="Failed sign-ins one address may make in 15 minutes; past it, sign-in from that address "
                              "waits (0: no limit).")
    retention_reporter_days: int = Field(
        30, ge=1, description="Days a reporter's contact details are kept when they were not told the outcome "
                              "(removed at once once they are told).")
    retention_sessions_days: int = Field(30, ge=1, description="Days an ended or expired page session is kept.")
    retention_idempotency_days: int = Field(
        30, ge=1, description="Days an Idempotency-Key's record is kept (a retry after that is a new submission).")
    retention_deliveries_days: int = Field(
        90, ge=1, description="Days a finished webhook delivery and its attempts are kept (pending ones stay).")
    retention_audit_days: int = Field(
        2_192, ge=365, description="Days an audit entry is kept in the read model once relayed to the audit topic "
                                   "(six years by default).")
    retention_closed_case_days: int = Field(
        2_192, ge=1, description="Days after a case closed (and was not reopened) that the person's personal data "
                                 "is erased, as an erasure is: six years, the limitation period for most claims.")
    retention_check_s: float = Field(3_600.0, description="How often the worker applies the retention schedule.")
    giving_scheme_name: str | None = Field(
        None, max_length=80, description="The local accredited giving scheme the public report pages point to "
                                         "(\"Real Change\" and the like); off when GIVING_SCHEME_URL is unset.")
    giving_scheme_url: str | None = Field(
        None, max_length=300, pattern=r"^https://[^\s]+$",
        description="Where to give to the local accredited scheme (https only).")
    giving_scheme_why: str = Field(
        "Money given there pays for what gets people off the street for good: a deposit, a bus fare home, a bed "
        "tonight. The outreach team works with the same people every night.", max_length=400,
        description="Why giving there helps more than giving on the street, in the scheme's words.")
    public_reports_per_hour: int = Field(
        10, description="Reports the public's web form takes from one address in an hour (0: no limit).")
    clock_skew_s: int = Field(300, description="How far in the future an event time may be.")
    produce_timeout_s: float = Field(10.0, description="How long a submission waits for Kafka's ack.")

    local_timezone: str = Field(
        "Europe/London",
        description="Time zone of every night, noon to noon: journeys, beds and statistics (IANA name).",
    )
    bed_no_show_release: time = Field(
        time(22, 0), description="Default local time a bed not checked into is released on its night."
    )
    bed_waitlist_limit: int = Field(10, description="Default waitlist places per provider per night.")
    bed_booking_days: int = Field(14, description="How many nights ahead a bed may be requested.")
    referral_expiry_check_s: float = Field(
        60.0, description="How often the worker records referral.expired for open referrals past their expiry.")
    bed_no_show_check_s: float = Field(30.0, description="How often the worker looks for no-shows to release.")
    board_flow_fresh_s: float = Field(
        60.0, description="How old the board's month's flow may be before a board asks a worker for a new one.")
    board_flow_check_s: float = Field(
        2.0, description="How often the worker looks whether a board asked for the month's flow.")
    audit_relay_s: float = Field(1.0, description="How often the worker sends new audit entries to the audit topic.")
    webhook_timeout_s: float = Field(5.0, description="How long a partner's endpoint has to answer a delivery.")
    webhook_poll_s: float = Field(
        0.5, description="How often the deliverer looks for due deliveries when nothing new has woken it.")
    webhook_in_flight: int = Field(
        16, description="Deliveries in flight at once per subscription (one at a time per person, in order).")
    smtp_host: str | None = Field(None, description="Mail server for telling reporters the outcome; unset: "
                                  "notices wait until it is set.")
    smtp_port: int = Field(25, description="Mail server port.")
    smtp_starttls: bool = Field(
        True, description="Upgrade the mail connection with STARTTLS, verifying the server's certificate and name "
                          "(set false only for a mail server on this machine).")
    smtp_cafile: Path | None = Field(None, description="PEM file of the authority the mail server's certificate is "
                                                       "checked against; unset: the system's.")
    smtp_user: str | None = Field(None, description="Mail server login, if it needs one.")
    smtp_password: str | None = Field(None, description="Mail server password.")
    smtp_from: str = Field("Journeys <no-reply@localhost>", description="From address of reporters' emails.")
    smtp_timeout_s: float = Field(10.0, description="How long the mail server has to take an email.")
    stream_keep: int = Field(5000, description="Recent journey updates each API process keeps for live-stream "
                             "clients that reconnect with Last-Event-ID.")
    stream_client_buffer: int = Field(
        1000, description="Updates queued for one live-stream client before it is dropped as too slow.")
    stream_heartbeat_s: float = Field(15.0, description="Seconds between keep-alive comments on an idle live stream.")
    webhook_allow_loopback_http: bool = Field(
        False, description="Development only: accept http:// subscription URLs to 127.0.0.1 or localhost.")
    cookies_secure: bool = Field(
        True, description="Sign-in cookies carry the Secure flag and pages send HSTS. Development only: false lets "
                          "the pages sign in over plain http (deploy/dev up sets it for its loopback address).")
    page_max_body_bytes: int = Field(
        64 * 1024, description="Largest body a page's form (outside /v1) may send; checked before it is parsed.")
    break_glass_daily_cap: int = Field(
        3, ge=1, description="Break-glass grants a member may take in 24 hours; the next is refused (429) and the "
                             "organisation's data protection lead told, as for every grant.")
    webhook_allow_private: bool = Field(
        False, description="On-premises partners: let webhooks reach private addresses (10/8, 172.16/12, "
                           "192.168/16, fc00::/7). Loopback, link-local and metadata addresses stay refused.")

    outreach_teams: dict[str, str] = Field(
        {"*": "borough-outreach", "TC-MARKET": "town-centre-outreach", "TC-STATION": "town-centre-outreach",
         "TC-PARK": "town-centre-outreach", "TC-LIBRARY": "town-centre-outreach"},
        description='The outreach organisation per area code, as JSON; "*" is every other area. Reports are '
                    "routed to it, and its members see the reporter's contact details until the reporter is told.",
    )
    report_response_hours: dict[str, float] = Field(
        {"*": 24.0, "TC-MARKET": 12.0, "TC-STATION": 12.0},
        description='Target hours from a report to the first outreach attempt, per area, as JSON; "*" for the rest.',
    )
    housing_authorities: dict[str, str] = Field(
        {"*": "town-council"},
        description='The housing options team (its organisation id) per area code, as JSON; "*" is every other '
                    "area. A risk of homelessness report made with consent becomes a referral to the team for its "
                    "area, unless the person chose another housing authority.")
    duty_to_refer_days: int = Field(
        14, ge=1, le=56, description="How long the housing team has to accept a duty-to-refer referral before it "
                                     "expires (it is listed as overdue on the referrals page meanwhile).")
    referral_expiry_days: int = Field(
        14, ge=1, le=90, description="How long a referral may be accepted when its maker names no expiry.")
    case_inactive_after_days: int = Field(
        90, description="A person with no contact for this many days counts as inactive (Built for Zero)."
    )
    living_on_streets_nights: int = Field(
        5, description="CHAIN living on the streets: at least this many nights seen bedded down in the period ..."
    )
    living_on_streets_span_days: int = Field(
        21, description="... spread over at least this many days (first to last)."
    )

    @model_validator(mode="after")
    def _local_broker_address(self) -> Settings:
        # Without KAFKA_BOOTSTRAP_SERVERS the local broker is used, on LOCAL_BROKER_PORT. Set
        # through __dict__ so that the field still counts as not given (uses_local_broker).
        if "kafka_bootstrap_servers" not in self.model_fields_set:
            self.__dict__["kafka_bootstrap_servers"] = f"127.0.0.1:{self.local_broker_port}"
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.local_timezone)

    @property
    def origin(self) -> str:
        """Where members' browsers find the pages (what a passkey is bound to)."""
        return self.site_origin or f"http://localhost:{self.api_port}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if self.database_sslmode and url.startswith("postgresql") and "sslmode=" not in url:
                url += ("&" if "?" in url else "?") + f"sslmode={self.database_sslmode}"
            return url
        return f"sqlite:///{(self.state_dir / 'journeys.db').resolve()}"

    def kafka_options(self, *, for_asyncio: bool = False) -> dict[str, Any]:
        """The connection options every Kafka client of the platform takes, in kafka-python's
        names (aiokafka's are the same, with an SSL context in place of a CA file)."""
        protocol = self.kafka_security_protocol
        options: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL"):
            options.update(sasl_mechanism=self.kafka_sasl_mechanism, sasl_plain_username=self.kafka_sasl_username,
                           sasl_plain_password=self.kafka_sasl_password)
        if protocol.endswith("SSL"):
            cafile = str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            if for_asyncio:
                options["ssl_context"] = ssl.create_default_context(cafile=cafile)
            else:
                options["ssl_cafile"] = cafile
                options["ssl_check_hostname"] = True
        return options

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
