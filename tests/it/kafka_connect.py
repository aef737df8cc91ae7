"""A Kafka Connect standalone worker from the cached jars (deploy/local/install: Connect's runtime
$SL_CONNECT_LIBS, Debezium's JDBC sink plugin $SL_DBZ_JDBC_PLUGIN; bench/compare adds the source
connectors). Connectors come through the REST API, each config validated first: standalone
mode turns a bad config into a NullPointerException."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from kafka_private import free_port

ROOT = Path(__file__).resolve().parents[2]


class ConnectWorker:
    def __init__(self, work, bootstrap, libs, plugin_path, jvm, extra_props="", offsets=None):
        """work: a directory for the worker's files; libs: Connect's runtime jars directory;
        plugin_path: comma-separated plugin directories; jvm: the JVM flags; offsets: (key
        JSON, value JSON) of where a source connector starts, written into the offsets file."""
        work = Path(work)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "connect.log"
        self.offsets = work / "connect.offsets"
        if offsets:
            subprocess.run(["java", str(ROOT / "bench/connect/Offsets.java"), str(self.offsets),
                            *offsets], check=True)
        self.props = work / "worker.properties"
        # service_load: the plugins' ServiceLoader manifests, no scan of every class of every
        # jar (half a minute of the worker's start on a loaded box)
        self.props.write_text(f"""bootstrap.servers={bootstrap}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
offset.storage.file.filename={self.offsets}
plugin.path={plugin_path}
plugin.discovery=service_load
listeners=http://127.0.0.1:{self.port}
{extra_props}""")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                ["java", *jvm, f"-Dlog4j2.configurationFile={ROOT / 'bench/connect/log4j2.xml'}",
                 "-cp", f"{libs}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
                 str(self.props)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_rest(self, timeout=180):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.rest("GET", "/connector-plugins")
                return
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Kafka Connect exited:\n{self.tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kafka Connect: no REST after {timeout} s:\n{self.tail()}")
                time.sleep(0.3)

    def tail(self, n=30):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def rest(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def start_connector(self, name, config):
        cls = config["connector.class"]
        v = self.rest("PUT", f"/connector-plugins/{cls}/config/validate", {**config, "name": name})
        if v["error_count"]:
            errs = [f"{c['value']['name']}: {e}" for c in v["configs"] for e in c["value"]["errors"]]
            raise RuntimeError(f"{cls} refuses the config:\n" + "\n".join(errs))
        self.rest("POST", "/connectors", {"name": name, "config": config})

    def failed(self, name):
        """The stack trace of a FAILED connector or task of `name`, else None."""
        try:
            st = self.rest("GET", f"/connectors/{name}/status")
        except urllib.error.HTTPError:
            return None
        for t in [st["connector"], *st.get("tasks", [])]:
            if t.get("state") == "FAILED":
                return t.get("trace", "FAILED")[:3000]
        return None

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
