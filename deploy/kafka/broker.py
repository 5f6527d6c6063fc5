"""Fetches the Kafka jars with Maven, and starts, waits for and stops a local KRaft broker."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Only protects the local test broker's keystore file, which never leaves its directory.
_KEYSTORE_PASSWORD = "local-broker-keystore"
POM = HERE / "pom.xml"
LOG4J = HERE / "log4j.properties"

Progress = Callable[[str], None]


class BrokerUnavailable(RuntimeError):
    """The local broker cannot be run here; the message says what to install or use instead."""


ALTERNATIVES = (
    "Or use a broker that is already running: set KAFKA_BOOTSTRAP_SERVERS=host:port; "
    "or, where a Docker engine runs, `docker compose -f deploy/docker-compose.yml up`."
)


def _require(tool: str, package_hint: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise BrokerUnavailable(
            f"The local Kafka broker needs `{tool}`, which is not on PATH. "
            f"Install it (on Debian: apt-get install {package_hint}). {ALTERNATIVES}"
        )
    return found


def jars_dir(cache_dir: Path) -> Path:
    return cache_dir / "kafka-lib"


def fetch_jars(cache_dir: Path, progress: Progress = print) -> Path:
    """Copy the broker's jars from Maven Central into cache_dir once; later calls are instant."""
    lib = jars_dir(Path(cache_dir).resolve())
    fingerprint = hashlib.sha256(POM.read_bytes()).hexdigest()
    marker = lib / ".pom-sha256"
    if marker.exists() and marker.read_text() == fingerprint:
        return lib
    mvn = _require("mvn", "maven")
    _require("java", "openjdk-17-jre-headless")
    progress("Fetching the Apache Kafka jars with Maven (first time only)...")
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={lib}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BrokerUnavailable(
            "Maven could not fetch the Kafka jars:\n" + (result.stdout + result.stderr)[-2000:] + "\n" + ALTERNATIVES
        )
    marker.write_text(fingerprint)
    progress(f"Kafka jars cached in {lib}")
    return lib


@dataclass(frozen=True)
class BrokerSecurity:
    """TLS and SCRAM for the local broker, as a cluster anywhere but a developer's machine runs:
    clients connect with SASL_SSL only, each with a SCRAM-SHA-256 user made when the storage is
    formatted, and check the broker's certificate (made here with Java's keytool, for 127.0.0.1,
    valid two days) against `LocalBroker.ca_file`."""

    users: dict[str, str]  # name -> password
    broker_password: str = "broker-inter-node-secret"


@dataclass
class LocalBroker:
    """One broker process whose data, log and pid file live under state_dir."""

    state_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"
    cache_dir: Path | None = None
    security: BrokerSecurity | None = None

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()

    @property
    def home(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def ca_file(self) -> Path:
        """The PEM certificate clients check a secured broker's against."""
        return self.home / "ca.pem"

    def client_options(self, user: str) -> dict[str, object]:
        """kafka-python's connection options for one of the secured broker's users."""
        if self.security is None:
            return {}
        return {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": user,
                "sasl_plain_password": self.security.users.get(user, self.security.broker_password),
                "ssl_cafile": str(self.ca_file)}

    def _listeners(self) -> list[str]:
        if self.security is None:
            return [
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            ]
        keystore = self.home / "broker.p12"
        return [
            f"listeners=SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{self.port}",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=SASL_SSL",
            "sasl.enabled.mechanisms=SCRAM-SHA-256",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram."
            f'ScramLoginModule required username="broker" password="{self.security.broker_password}";',
            f"ssl.keystore.location={keystore}",
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.password={_KEYSTORE_PASSWORD}",
            f"ssl.key.password={_KEYSTORE_PASSWORD}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            "ssl.endpoint.identification.algorithm=https",
        ]

    def _make_certificate(self) -> None:
        """A key pair and a self-signed certificate for 127.0.0.1 in the broker's keystore, and
        the certificate as PEM for the clients (once)."""
        if self.ca_file.exists():
            return
        keytool = _require("keytool", "openjdk-17-jre-headless")
        keystore = self.home / "broker.p12"
        subprocess.run([keytool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
                        "-validity", "2", "-dname", "CN=127.0.0.1", "-ext", "SAN=IP:127.0.0.1,DNS:localhost",
                        "-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", _KEYSTORE_PASSWORD,
                        "-keypass", _KEYSTORE_PASSWORD], check=True, capture_output=True)
        exported = subprocess.run([keytool, "-exportcert", "-rfc", "-alias", "broker", "-keystore", str(keystore),
                                   "-storepass", _KEYSTORE_PASSWORD], check=True, capture_output=True, text=True)
        self.ca_file.write_text(exported.stdout)

    def _properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                *self._listeners(),
                "controller.listener.names=CONTROLLER",
                f"log.dirs={(self.home / 'data').resolve()}",
                # Topics are the project's to create, with their own settings.
                "auto.create.topics.enable=false",
                # One node: internal topics cannot have more replicas than that.
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "group.initial.rebalance.delay.ms=0",
                "num.network.threads=2",
                "num.io.threads=4",
                "",
            ]
        )

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self, progress: Progress = print, timeout: float = 90.0) -> None:
        """Start the broker unless it runs already, and wait until it answers metadata requests."""
        if self.pid() is not None:
            progress(f"Kafka broker already running on {self.bootstrap_servers}")
            return
        if self.accepts_connections():
            raise BrokerUnavailable(f"port {self.port} is taken by another program; set LOCAL_BROKER_PORT")
        java = _require("java", "openjdk-17-jre-headless")
        lib = fetch_jars(self.cache_dir or self.state_dir, progress)
        self.home.mkdir(parents=True, exist_ok=True)
        if self.security is not None:
            self._make_certificate()
        config = self.home / "server.properties"
        config.write_text(self._properties())
        classpath = f"{lib}/*"
        if not (self.home / "data" / "meta.properties").exists():
            progress("Formatting the broker's storage (KRaft)...")
            # A cluster id is 16 random bytes in URL-safe base64, as `kafka-storage random-uuid` prints.
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            formatted = subprocess.run(
                [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                 # One argument with "=": an id may start with "-", which would read as an option.
                 f"--cluster-id={cluster_id}", "-c", str(config), *self._scram_users()],
                capture_output=True,
                text=True,
            )
            if formatted.returncode != 0:
                output = formatted.stdout + formatted.stderr
                raise BrokerUnavailable("formatting the broker's storage failed:\n" + output)
        progress(f"Starting Kafka on {self.bootstrap_servers} (log: {self.log_file})...")
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [java, f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                 f"-Dlog4j.configuration=file:{LOG4J}", "-cp", classpath, "kafka.Kafka", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the command that started it
            )
        self.pid_file.write_text(str(process.pid))
        self._wait_ready(process, timeout)
        progress("Kafka is ready")

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-3000:]
                raise BrokerUnavailable(f"the Kafka broker exited with code {process.returncode}:\n{tail}")
            if self.accepts_connections():
                try:
                    admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000,
                                             **self.client_options("broker"))
                    admin.list_topics()
                    admin.close()
                    return
                except KafkaError:
                    pass
            time.sleep(0.3)
        self.stop()
        raise BrokerUnavailable(f"the Kafka broker did not become ready within {timeout:.0f}s; see {self.log_file}")

    def _scram_users(self) -> list[str]:
        """The storage tool's arguments that make the SCRAM users (the broker's own among them)."""
        if self.security is None:
            return []
        users = {**self.security.users, "broker": self.security.broker_password}
        return [f"--add-scram=SCRAM-SHA-256=[name={name},password={password}]" for name, password in users.items()]

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker (cleanly if it can); False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
