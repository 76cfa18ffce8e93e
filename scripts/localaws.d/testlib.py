"""Helpers for the localaws integration tests (tests/integration/test_localaws_*.py)."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

SRCDIR = os.environ.get("BSUP_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
LOCALAWS = os.path.join(SRCDIR, "scripts", "localaws")
CLI_TIMEOUT_S = 60

_failures = []


def check(cond, what):
    """Records a failed assertion (and keeps going); prints every result."""
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        _failures.append(what)
    return cond


def finish():
    if _failures:
        print(f"{len(_failures)} check(s) failed:", *_failures, sep="\n  ")
        sys.exit(1)
    print("all checks passed")


def read_env(d):
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.strip('"')
    return env


@contextlib.contextmanager
def environment(*start_args, keep=False):
    """Starts localaws in a fresh temp dir; always stops it and removes the dir."""
    d = tempfile.mkdtemp(prefix="bsup-localaws-")
    try:
        subprocess.run([LOCALAWS, "start", "--dir", d, "--owner", str(os.getpid()),
                        *start_args], check=True, timeout=120)
        yield d
    finally:
        subprocess.run([LOCALAWS, "stop", "--dir", d], timeout=60)
        st = os.path.join(d, "state.json")
        check(not os.path.exists(st), f"stop removed {st}")
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


class Cli:
    """Runs the real AWS CLI against an environment, without retries."""

    def __init__(self, d, **extra):
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("AWS_"):
                del self.env[k]
        self.env.update(read_env(d))
        self.env.update({"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
        self.env.update(extra)
        self.calls = 0

    def __call__(self, *args, read_timeout=20, env=None, timeout=CLI_TIMEOUT_S):
        e = dict(self.env, **(env or {}))
        # --endpoint-url: awscli v1 ignores AWS_ENDPOINT_URL for sqs and rds
        argv = ["aws", "--endpoint-url", e["AWS_ENDPOINT_URL"],
                "--cli-read-timeout", str(read_timeout),
                "--cli-connect-timeout", "5", "--output", "json", *args]
        t0 = time.monotonic()
        p = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=timeout)
        self.calls += 1
        p.elapsed_s = time.monotonic() - t0
        p.json = None
        if p.returncode == 0 and p.stdout.strip():
            p.json = json.loads(p.stdout)
        return p


def control(base, method, sub, body=None):
    req = urllib.request.Request(f"{base}/{sub}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
