#!/usr/bin/env python3
"""Credentials from STS against the local AWS (signatures enforced): with a web identity token
file and AWS_ROLE_ARN (EKS IRSA), bsupd gets the role's credentials with
AssumeRoleWithWebIdentity; with a profile's role_arn and source_profile (the seeded IAM user's
keys), with AssumeRole signed with those keys. Each completes a cycle with the role's
credentials and status names the role; the token and the keys are in no log or status. A source
profile with a wrong secret is refused by STS (the signature is checked), and status says so."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3BzOmJzdXBkIn0.c2lnbmF0dXJl"
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def make_role(d, name):
    """A role in the seeded account that may do everything; its ARN."""
    cli = testlib.Cli(d)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    arn = cli("iam", "create-role", "--role-name", name,
              "--assume-role-policy-document", trust).json["Role"]["Arn"]
    cli("iam", "put-role-policy", "--role-name", name, "--policy-name", "all",
        "--policy-document", ALLOW_ALL)
    return arn



with testlib.environment() as d, tempfile.TemporaryDirectory() as tmp:
    services, net = R.seed(d, 1)
    home = os.path.join(tmp, "home")  # no ~/.aws of the user running the tests
    os.mkdir(home)

    # Web identity from the environment.
    role = make_role(d, "bsup-irsa")
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    c, text, log = R.credentials_run(
        d, services, net, {"HOME": home, "AWS_WEB_IDENTITY_TOKEN_FILE": token_file,
                           "AWS_ROLE_ARN": role, "AWS_ROLE_SESSION_NAME": "bsupd-test"},
        "web identity")
    print("web identity:", c, "\n" + text)
    check(c["source"] == "web-identity" and c["description"] == f"web identity {role} (environment)"
          and c["expires_at"] and c["last_error"] is None, f"status names the role: {c}")
    check(f"Credentials: web identity {role} (environment)" in text, f"status text: {text}")
    check(TOKEN not in log + text + json.dumps(c), "the token is in no log or status")

    # Assume role: a profile's role_arn with source_profile holding the seeded user's keys.
    aws = R.aws_env(d)
    key, secret = aws["AWS_ACCESS_KEY_ID"], aws["AWS_SECRET_ACCESS_KEY"]
    ops = make_role(d, "bsup-ops")
    config = os.path.join(tmp, "config")

    def profiles(source_secret):
        with open(config, "w") as f:
            f.write(f"[profile ops]\nrole_arn = {ops}\nsource_profile = central\n"
                    f"role_session_name = bsupd-ops\n[profile central]\n"
                    f"aws_access_key_id = {key}\naws_secret_access_key = {source_secret}\n")

    profiles(secret)
    env = {"HOME": home, "AWS_CONFIG_FILE": config, "AWS_PROFILE": "ops"}
    c, text, log = R.credentials_run(d, services, net, env, "assume role")
    print("assume role:", c, "\n" + text)
    check(c["source"] == "assume-role" and
          c["description"] == f"assume role {ops} (source: profile central)" and
          c["expires_at"] and c["last_error"] is None, f"status names the role: {c}")
    check(f"Credentials: assume role {ops} (source: profile central)" in text,
          f"status text: {text}")
    check(secret not in log + text + json.dumps(c), "the source secret is in no log or status")

    # The AssumeRole signature is checked: a wrong source secret is refused by STS, said as
    # such, and no other identity is used.
    profiles("wrong" + secret[5:])
    c, text, log = R.credentials_run(d, services, net, env, "wrong source secret", ok=False)
    print("wrong source secret:", c)
    check(c["source"] is None and "STS AssumeRole answered HTTP 403: SignatureDoesNotMatch" in
          (c["last_error"] or ""), f"refused: {c}")
    check("Credentials: last lookup failed" in text and "SignatureDoesNotMatch" in text,
          f"status text: {text}")
    check(secret[5:] not in log + text + json.dumps(c), "the wrong secret is in no log or status")

finish()
