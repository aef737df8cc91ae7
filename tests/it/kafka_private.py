"""A throw-away single-node KRaft Kafka for one test, from the cached jars ($SL_KAFKA_LIBS).

Same server.properties as deploy/local/up writes for the shared broker, on two free loopback
ports, with its data dir and logs under the test's tmp_path and -Xmx256m. A test may SIGKILL
it (an outage) and start it again on the same dir and ports; the shared broker is never touched.

    k = PrivateKafka(stack, tmp_path / "kafka").start()
    ... k.bootstrap ...            # "127.0.0.1:<port>"
    k.kill()                       # SIGKILL, waits for the process to be gone
    k.start()                      # same dir, same ports
    k.stop()                       # SIGTERM, then SIGKILL after a bounded wait (always safe)
"""

import base64
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class PrivateKafka:
    def __init__(self, stack, workdir, heap="256m"):
        self.libs = stack["SL_KAFKA_LIBS"]
        self.dir = Path(workdir)
        self.heap = heap
        self.port, self.cport = free_port(), free_port()
        while self.cport == self.port:
            self.cport = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc = None
        self.starts = 0
        self.props = self.dir / "server.properties"
        self.out = self.dir / "kafka.out"
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        self.props.write_text(f"""# tests/it/kafka_private.py (as deploy/local/up, other ports)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{self.cport}
listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={self.dir / "data"}
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
""")
        self._format()

    def _java(self, *args, log4j="tools-log4j2.xml"):
        return ["java", f"-Xmx{self.heap}",
                f"-Dlog4j2.configurationFile={REPO_ROOT / 'deploy/local/kafka' / log4j}",
                "-cp", f"{self.libs}/*", *args]

    def _format(self):
        # one id in 64 starts with '-': StorageTool's parser takes it for an option (Kafka's
        # Uuid.randomUuid() draws again; so do we)
        cid = "-"
        while cid.startswith("-"):
            cid = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        p = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cid,
                                      "-c", str(self.props)),
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"formatting the private Kafka failed:\n{p.stdout}\n{p.stderr}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=90):
        """Starts the broker (same dir and ports every time); returns once it answers a
        metadata request. Raises with the log's tail when it exits or times out."""
        assert not self.running(), "already running"
        deadline = time.monotonic() + timeout
        # the ports of a killed broker: wait until nothing listens any more
        while (port_open(self.port) or port_open(self.cport)) and time.monotonic() < deadline:
            time.sleep(0.2)
        cmd = ["java", f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC",
               "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={REPO_ROOT / 'deploy/local/kafka/log4j2.xml'}",
               f"-Dkafka.logs.dir={self.dir / 'logs'}",
               "-cp", f"{self.libs}/*", "kafka.Kafka", str(self.props)]
        with open(self.out, "a") as out:
            out.write(f"\n--- start {self.starts + 1} ---\n")
            out.flush()
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1
        t0 = time.monotonic()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"private Kafka exited {self.proc.returncode}:\n"
                                     f"{self.tail()}")
            if port_open(self.port) and self._metadata_ok():
                self.ready_s = time.monotonic() - t0
                return self
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"private Kafka not ready within {timeout}s:\n{self.tail()}")

    def _metadata_ok(self):
        try:
            p = subprocess.run(["kcat", "-b", self.bootstrap, "-L", "-m", "3"],
                               capture_output=True, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return p.returncode == 0

    def kill(self):
        """SIGKILL (no clean shutdown: Kafka recovers its logs on the next start)."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout=15):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=30)

    def tail(self, n=40):
        try:
            return "\n".join(self.out.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"
