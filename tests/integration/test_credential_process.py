#!/usr/bin/env python3
"""Credentials from a profile's credential_process against the local AWS (signatures
enforced): a helper script that prints the seeded user's keys gives bsupd the credentials a
cycle completes with, and status says where they came from; a helper that exits 3 stops the
lookup with a message naming the profile, the program and the status. Neither its output nor
its stderr reaches a log or status. (A helper that hangs is killed after 60 s: test_process.)"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402



def helper(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


with testlib.environment() as d, tempfile.TemporaryDirectory() as tmp:
    services, net = R.seed(d, 1)
    home = os.path.join(tmp, "home")  # no ~/.aws of the user running the tests
    os.mkdir(home)
    aws = R.aws_env(d)
    key, secret = aws["AWS_ACCESS_KEY_ID"], aws["AWS_SECRET_ACCESS_KEY"]
    doc = json.dumps({"Version": 1, "AccessKeyId": key, "SecretAccessKey": secret})

    # The helper gets its arguments as words (no shell) and prints the keys.
    good = os.path.join(tmp, "cred-helper")
    helper(good, f"[ \"$1\" = 'a b' ] || exit 9\necho 'HELPERNOISE' >&2\nprintf '%s' '{doc}'\n")
    config = os.path.join(tmp, "config")
    with open(config, "w") as f:
        f.write(f"[profile onprem]\ncredential_process = {good} 'a b'\n")
    env = {"HOME": home, "AWS_CONFIG_FILE": config, "AWS_PROFILE": "onprem"}
    c, text, log = R.credentials_run(d, services, net, env, "credential_process")
    print("credential_process:", c, "\n" + text)
    check(c["source"] == "process" and
          c["description"] == "credential_process cred-helper (profile 'onprem')" and
          c["expires_at"] is None and c["last_error"] is None, f"status says where: {c}")
    check("Credentials: credential_process cred-helper (profile 'onprem')" in text,
          f"status text: {text}")
    check(secret not in log + text + json.dumps(c), "the secret is in no log or status")
    check("HELPERNOISE" not in log, "the helper's stderr is not in the log")

    # A helper that fails: the lookup stops, saying which program and how, never its output.
    bad = os.path.join(tmp, "broken-helper")
    helper(bad, f"printf '%s' '{doc}'\necho \"{secret}\" >&2\nexit 3\n")
    with open(config, "w") as f:
        f.write(f"[profile onprem]\ncredential_process = {bad}\n")
    c, text, log = R.credentials_run(d, services, net, env, "failing credential_process",
                                     ok=False)
    print("failing credential_process:", c)
    check(c["source"] is None and (c["last_error"] or "") ==
          "AWS credentials: credential_process broken-helper (profile 'onprem') exited with "
          "status 3", f"refused: {c}")
    check("Credentials: last lookup failed" in text and "exited with status 3" in text,
          f"status text: {text}")
    check(secret not in log + text + json.dumps(c), "the output and stderr are in no log or status")

finish()
