#!/usr/bin/env python3
"""status's daemon.credentials against the local AWS, with credentials from a stub container
endpoint on loopback: a lookup it refuses shows as the last failure, with why and when; while
it holds its answer, status (text and --json) says credentials are being resolved, since when
and from which provider; once answered, where they came from, and no secret anywhere."""
import http.server
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

HOLD_S = 4  # under the container request's 5 s timeout: the answer comes, late

with testlib.environment() as d:
    services, net = R.seed(d, 1)
    aws = R.aws_env(d)
    key, secret = aws["AWS_ACCESS_KEY_ID"], aws["AWS_SECRET_ACCESS_KEY"]
    mode = {"answer": "refuse"}
    release = threading.Event()
    asked = threading.Event()

    class Container(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if mode["answer"] == "refuse":
                self.send_response(403)
                self.end_headers()
                return
            asked.set()
            release.wait(HOLD_S)
            exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            body = ('{"AccessKeyId": "%s", "SecretAccessKey": "%s", "Expiration": "%s"}' %
                    (key, secret, exp)).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Container)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    dm = R.daemon(d, services, net)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        dm.env.pop(k, None)
    dm.env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{srv.server_port}/creds",
                  AWS_EC2_METADATA_DISABLED="true")
    dm.start()

    def creds():
        return dm.ctl_json("status", expect=None)["daemon"]["credentials"]

    # Refused: the last lookup failed, why and when; nothing resolving, no source.
    dm.ctl("reconcile", "--wait", expect=None)
    c = R.bsuptest.poll(lambda: (lambda c: c["last_error"] and c)(creds()),
                        "a failed lookup in status", 30)
    check(not c["resolving"] and c["resolving_since"] is None and c["asking"] is None and
          c["source"] is None and "container" in c["last_error"] and
          abs(c["last_error_at"] - time.time()) < 60, f"the failure: {c}")
    text = dm.ctl("status", expect=None).stdout
    check("Credentials: last lookup failed" in text and "container" in text,
          f"the failure in the text: {text}")

    # Held: resolving, since when, by which provider, and status answers meanwhile.
    mode["answer"] = "hold"
    t0 = time.time()
    dm.ctl("reconcile", expect=0)
    check(asked.wait(30), "the container endpoint asked")
    c = R.bsuptest.poll(lambda: (lambda c: c["resolving"] and c)(creds()),
                        "a lookup in progress in status", HOLD_S)
    check(c["asking"] == "container" and int(t0) - 1 <= c["resolving_since"] <= time.time() and
          c["source"] is None, f"resolving: {c}")
    text = dm.ctl("status", expect=None).stdout
    print("status while resolving:\n" + text)
    check("Credentials: resolving for" in text and "waiting for the container endpoint" in text and
          "AWS calls wait for them" in text and "  last lookup failed" in text,
          f"resolving, and the failure before, in the text: {text}")
    release.set()

    # Answered: where they came from, when they expire, the failure gone, no secret anywhere.
    c = R.bsuptest.poll(lambda: (lambda c: not c["resolving"] and c["source"] and c)(creds()),
                        "the lookup done", 30)
    check(c["source"] == "container" and c["expires_at"] > time.time() and
          c["last_error"] is None and c["last_error_at"] is None and c["asking"] is None,
          f"resolved: {c}")
    text = dm.ctl("status", expect=None).stdout
    full = dm.ctl("status", "--json", expect=None).stdout
    check("Credentials:" not in text, f"nothing to say once resolved: {text}")
    check(secret not in full + text + dm.logtext(), "no secret in status or the log")
    srv.shutdown()
    rc, _ = dm.stop()
    check(rc == 0, f"stop: {rc}")

finish()
