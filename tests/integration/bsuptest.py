"""Shared helpers for the bsupd integration tests: temporary trees, starting bsupd, waiting
for readiness with bounded polls, driving bsupctl, and cleaning up even on failure."""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("BSUP_BUILD_DIR", "build")
SRC = os.environ.get("BSUP_SRCDIR", ".")
BSUPD = os.path.join(BUILD, "bsupd")
BSUPCTL = os.path.join(BUILD, "bsupctl")

_procs = []
_dirs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    for d in _dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(0)


def poll(fn, what, timeout_s=240, every_s=0.25):
    """Calls fn until it returns something true and returns that. The deadline is generous and
    only turns a hang into a failure naming what; it is not what the test asserts."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            fail("waited %ss for %s" % (timeout_s, what() if callable(what) else what))
        time.sleep(every_s)


def tmpdir():
    d = tempfile.mkdtemp(prefix="bsup-it-")
    os.chmod(d, 0o755)
    _dirs.append(d)
    return d


GOOD_API = """service_name: api
environment: prod
vpc_id: vpc-0a1b2c3d4e5f60718
subnet_ids: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
database_name: api
database_username: api_admin
database_password: ssm:/prod/api/db
max_size: %d
"""

GOOD_WORKER = """service_name: worker
environment: staging
vpc_id: vpc-0b1c2d3e4f5a60729
subnet_ids: [subnet-0b1c2d3e4f5a60011]
database_name: worker
database_username: worker_admin
database_password: ssm:/staging/worker/db
max_size: %d
"""


class Daemon:
    """A bsupd on a temporary config dir, state dir and socket."""

    def __init__(self, settings="", env=None, files=None):
        self.root = tmpdir()
        self.conf = os.path.join(self.root, "bsup.d")
        self.state = os.path.join(self.root, "state")
        self.sock = os.path.join(self.root, "run", "bsupd.sock")
        self.settings = os.path.join(self.root, "bsupd.yaml")
        self.log = os.path.join(self.root, "bsupd.log")
        os.mkdir(self.conf)
        with open(self.settings, "w") as f:
            # A day's interval: no cycle starts by itself during a test (first cycles are spread
            # over one interval); tests that want one ask with bsupctl reconcile.
            f.write(settings or "log_level: debug\ninterval: 1d\n")
        for name, text in (files or {"10-api.yaml": GOOD_API % 4,
                                     "20-worker.yaml": GOOD_WORKER % 4}).items():
            self.write(name, text)
        self.env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                  "JOURNAL_STREAM"):
            self.env.pop(k, None)
        self.env.update(env or {})
        self.proc = None

    def write(self, name, text):
        with open(os.path.join(self.conf, name), "w") as f:
            f.write(text)

    def argv(self):
        return [BSUPD, "-c", self.settings, "--config-dir", self.conf, "--state-dir",
                self.state, "--socket", self.sock]

    def start(self, wait=True, **kw):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv(), env=self.env, stdout=logf, stderr=logf, **kw)
        logf.close()
        _procs.append(self.proc)
        if wait:
            self.wait_ready()
        return self

    def accepts(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(1)
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def wait_ready(self, timeout_s=30):
        """Bounded poll until the socket accepts (the readiness signal without systemd)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail("bsupd exited early with %s:\n%s" % (self.proc.returncode, self.logtext()))
            if self.accepts():
                return
            time.sleep(0.02)
        fail("bsupd did not accept on %s within %ss:\n%s" % (self.sock, timeout_s,
                                                              self.logtext()))

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def ctl(self, *args, expect=None, prefix=(), env=None):
        e = dict(os.environ)
        e.pop("BSUP_SOCKET", None)
        e.pop("COLUMNS", None)  # the width bsupctl wraps at: 100 unless a test sets it
        e.update(env or {})
        r = subprocess.run(list(prefix) + [BSUPCTL, "--socket", self.sock] + list(args),
                           capture_output=True, text=True, timeout=60, env=e)
        if expect is not None and r.returncode != expect:
            fail("bsupctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s\nlog: %s" % (
                " ".join(args), r.returncode, expect, r.stdout, r.stderr, self.logtext()))
        return r

    def ctl_json(self, *args, expect=0):
        r = self.ctl(*(list(args) + ["--json"]), expect=expect)
        return json.loads(r.stdout)

    def request(self, obj, timeout_s=10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout_s)
        s.connect(self.sock)
        s.sendall(json.dumps(obj).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        return json.loads(buf.split(b"\n")[0])

    def stop(self, sig=signal.SIGTERM, timeout_s=15):
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            fail("bsupd did not stop within %ss:\n%s" % (timeout_s, self.logtext()))
        return rc, time.monotonic() - t0

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def integrity(self):
        r = subprocess.run(["sqlite3", os.path.join(self.state, "bsup.db"),
                            "PRAGMA integrity_check"], capture_output=True, text=True,
                           timeout=30)
        return r.stdout.strip()
