"""Alerts (issue 22, docs/operations.md): a real applier sends them by a JSON webhook to an HTTP
server (python http.server) and by mail to an SMTP server (aiosmtpd), both on loopback.

The applier starts before its topic exists (waiting_topic: not ready) -> "not_ready firing";
the topic then brings a record that cannot be decoded (to the dead-letter topic) and a good
transaction -> "not_ready resolved", "errors firing", "dlq firing", and once no new error
came for alert.for, both resolved. Each message is sent once (de-duplicated); the webhook's
first answer is a 500, so the first message arrives by the retry.
"""

import json
import subprocess
import socket
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from test_applier_pg import Applier, feed, target_db  # noqa: F401


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """The webhook: POST bodies (JSON) in .got; the first request is answered 500."""

    def __init__(self):
        self.got, self.requests = [], 0
        outer = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests += 1
                if outer.requests == 1:
                    self.send_response(500)
                else:
                    outer.got.append((self.headers["Content-Type"], json.loads(body)))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self):
        self.got = []

    async def handle_DATA(self, server, session, envelope):
        self.got.append((envelope.mail_from, list(envelope.rcpt_tos),
                         message_from_bytes(envelope.content)))
        return "250 OK"


def wait_for(what, pred, timeout, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s\n{log()[-4000:]}")


def test_alerts_by_webhook_and_mail_fire_once_and_recover(stack, bin_dir, test_bin_dir,
                                                          unique_name, target_db):  # noqa: F811
    db, _ = target_db
    topic, task = unique_name("tp"), unique_name("task")
    hook, box = Receiver(), Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    log = f"/tmp/{task}.log"
    app = Applier(bin_dir, stack, task, topic, db, "-X", "http.listen=127.0.0.1:0",
                  "-X", f"alert.webhook.url={hook.url}",
                  "-X", f"alert.mail.url=smtp://127.0.0.1:{smtp.port}",
                  "-X", "alert.mail.from=shiftlog@example.com",
                  "-X", "alert.mail.to=oncall@example.com, second@example.com",
                  "-X", "alert.for=1s", "-X", "max.errors=100", logfile=log)
    try:
        app.start()
        sent = lambda: [(b["alert"], b["state"]) for _, b in hook.got]  # noqa: E731
        wait_for("not_ready firing", lambda: ("not_ready", "firing") in sent(), 60, app.log)
        ctype, first = hook.got[0]
        assert ctype == "application/json" and hook.requests >= 2   # the 500 was retried
        assert first["service"] == "applier" and first["task"] == task, first
        assert "waiting_topic" in first["summary"], first
        assert first["status"]["state"] == "waiting_topic" and first["status"]["ready"] is False

        feed(test_bin_dir, stack, topic, [
            "raw 7b2267617262616765223a747275657d",          # JSON, not Avro: dead letter
            "schema s fine id:int:bigint:pk=1", "insert s fine id i:42", "commit"])
        want = {("not_ready", "resolved"), ("errors", "firing"), ("dlq", "firing"),
                ("errors", "resolved"), ("dlq", "resolved")}
        wait_for("errors and dlq fired and recovered", lambda: want <= set(sent()), 60,
                 app.log)
        byrule = {(b["alert"], b["state"]): b for _, b in hook.got}
        assert byrule[("dlq", "firing")]["value"] >= 1
        assert "cannot decode" in byrule[("errors", "firing")]["summary"], byrule
        time.sleep(2.5)                                   # nothing more comes: no repeats
        assert sorted(sent()) == sorted(want | {("not_ready", "firing")}), sent()

        wait_for("every mail", lambda: len(box.got) == 6, 30, app.log)
        subjects = sorted(m["Subject"] for _, _, m in box.got)
        assert f"[shiftlog] FIRING not_ready applier[{task}]" in subjects, subjects
        assert f"[shiftlog] RESOLVED dlq applier[{task}]" in subjects, subjects
        for frm, rcpt, m in box.got:
            assert frm == "shiftlog@example.com"
            assert rcpt == ["oncall@example.com", "second@example.com"]
            body = m.get_payload()
            assert f"task: {task}" in body and "state: " in body, body
            assert max(len(line) for line in body.splitlines()) < 998
        text = app.log()
        assert "alert not_ready firing" in text and "alert dlq resolved" in text
    finally:
        app.stop()
        smtp.stop()
        hook.close()


def test_alert_test_command_sends_through_a_config_file(tmp_path, bin_dir):
    """`shiftlog alert --test CONFIG`: one message by the config's webhook and mail."""
    hook, box = Receiver(), Mailbox()
    hook.requests = 1                                  # no 500 first here
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        conf = tmp_path / "applier.conf"
        conf.write_text(f"task.name = t_test\nalert.webhook.url = {hook.url}\n"
                        f"alert.mail.url = smtp://127.0.0.1:{smtp.port}\n"
                        "alert.mail.to = oncall@example.com\n")
        r = subprocess.run([str(bin_dir / "shiftlog"), "alert", "--test",
                                          str(conf)], capture_output=True, text=True,
                                         timeout=60)
        assert r.returncode == 0, r.stderr
        assert [(b["alert"], b["task"]) for _, b in hook.got] == [("test", "t_test")]
        wait_for("the mail", lambda: box.got, 10)
        assert box.got[0][2]["Subject"] == "[shiftlog] FIRING test applier[t_test]"
        hook.close()
        r = subprocess.run([str(bin_dir / "shiftlog"), "alert", "--test",
                                          str(conf)], capture_output=True, text=True,
                                         timeout=60)
        assert r.returncode == 1 and "webhook" in r.stderr, r      # the receiver is gone
    finally:
        smtp.stop()
