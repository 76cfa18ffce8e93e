#!/usr/bin/env python3
"""bsup's AWS client against the local AWS (signing enforced), through the fault proxy, with
tests/tools/awscall: one call of each service succeeds; a wrong secret is refused and not
retried; throttling is retried with backoff and then succeeds, and a paged call counts every
page's retries; a stalled body hits the timeout;
200 concurrent calls share a bounded number of connections; credentials from a stub IMDSv2 on
loopback are used and refreshed before they expire; valgrind finds no leak."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time

SRC = os.environ.get("BSUP_SRCDIR", ".")
BUILD = os.environ.get("BSUP_BUILD_DIR", "build")
sys.path.insert(0, os.path.join(SRC, "scripts", "localaws.d"))
import testlib  # noqa: E402
from testlib import check  # noqa: E402

AWSCALL = os.path.join(BUILD, "tests", "awscall")


def awscall(env, *args, timeout=120):
    p = subprocess.run([AWSCALL, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    try:
        p.json = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
    except ValueError:
        p.json = None  # several rounds print several documents
    return p


def stats_of(p):
    for line in reversed(p.stderr.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def attempts_of(p):
    return [int(l.split()[0].split("=")[1]) for l in p.stderr.splitlines()
            if l.startswith("attempts=")]


with testlib.environment("--faults") as d:
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    env.update(testlib.read_env(d))
    faults = env["BSUP_FAULTS_URL"]
    ctl = lambda m, sub, body=None: testlib.control(faults, m, sub, body)  # noqa: E731
    cli = testlib.Cli(d)
    p = cli("secretsmanager", "create-secret", "--name", "bsup/test/db", "--secret-string", "s3cr3t")
    check(p.returncode == 0, "seed a secret")
    p = cli("ssm", "put-parameter", "--name", "/test/db", "--type", "SecureString", "--value", "x")
    check(p.returncode == 0, "seed a parameter")
    topic = cli("sns", "create-topic", "--name", "bsup-test")
    check(topic.json is not None, "seed a topic")
    lt = cli("ec2", "create-launch-template", "--launch-template-name", "bsup-test",
             "--launch-template-data", '{"ImageId": "ami-12345678", "InstanceType": "t3.micro"}')
    check(lt.json is not None, "seed a launch template")

    # One call of each service (an operation bsupd calls: only those are in its table).
    calls = [
        (["autoscaling", "DescribeAutoScalingGroups"], "AutoScalingGroups"),
        (["elbv2", "DescribeTargetGroups"], "TargetGroups"),
        (["rds", "DescribeDBInstances"], "DBInstances"),
        (["cloudwatch", "DescribeAlarms"], "MetricAlarms"),
        (["sns", "Publish", "TopicArn=" + (topic.json or {}).get("TopicArn", "-"),
          "Message=hello"], "MessageId"),
        (["elasticache", "DescribeReplicationGroups"], "ReplicationGroups"),
        (["ec2", "DescribeLaunchTemplateVersions", "LaunchTemplateName=bsup-test"],
         "LaunchTemplateVersions"),
        (["sts", "GetCallerIdentity"], "Account"),
        (["secretsmanager", "GetSecretValue", "SecretId=bsup/test/db"], "SecretString"),
        (["ssm", "GetParameter", "Name=/test/db", "WithDecryption=true"], "Parameter"),
    ]
    ctl("DELETE", "counts")
    for args, key in calls:
        p = awscall(env, *args)
        check(p.returncode == 0 and p.json is not None and key in p.json,
              f"{' '.join(args)}: {p.returncode} {p.stderr.strip()[-200:]}")
        check("s3cr3t" not in p.stderr, f"{args[0]}: no secret in the log")
    counts = ctl("GET", "counts")
    check(counts["total"] == len(calls), f"one request per call: {counts['total']}")

    # A wrong secret: SignatureDoesNotMatch, one attempt only.
    ctl("DELETE", "counts")
    p = awscall(dict(env, AWS_SECRET_ACCESS_KEY="wrong"), "autoscaling",
                "DescribeAutoScalingGroups")
    check(p.returncode == 1 and "SignatureDoesNotMatch" in p.stderr, "wrong secret refused")
    check(attempts_of(p) == [1] and ctl("GET", "counts")["total"] == 1, "and not retried")

    # Throttling twice: retried with backoff (1 s base), the third attempt succeeds.
    ctl("DELETE", "counts")
    ctl("PUT", "rules", {"seed": 1, "rules": [
        {"fault": "throttle", "service": "autoscaling", "action": "DescribeAutoScalingGroups",
         "count": 2}]})
    t0 = time.monotonic()
    p = awscall(env, "autoscaling", "DescribeAutoScalingGroups")
    took = time.monotonic() - t0
    check(p.returncode == 0 and attempts_of(p) == [3], f"throttled twice then ok: {p.stderr[-300:]}")
    check(ctl("GET", "counts")["total"] == 3, "three requests reached the proxy")
    check(took < 10, f"backoff bounded: {took:.1f}s")
    ctl("DELETE", "rules")

    # A paged call counts every page's retries, not only the last page's: the first page is
    # throttled once.
    for name in ("bsup-page-a", "bsup-page-b"):
        p = cli("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", name,
                "--launch-template", "LaunchTemplateName=bsup-test", "--min-size", "0",
                "--max-size", "1", "--availability-zones", "us-east-1a")
        check(p.returncode == 0, f"seed group {name}")
    ctl("PUT", "rules", {"seed": 1, "rules": [
        {"fault": "throttle", "service": "autoscaling", "action": "DescribeAutoScalingGroups",
         "count": 1}]})
    p = awscall(env, "--stats", "--all-pages", "autoscaling", "DescribeAutoScalingGroups",
                "MaxRecords=1")
    st = stats_of(p)
    check(p.returncode == 0 and isinstance(p.json, list) and len(p.json) >= 2,
          f"two pages or more: {p.stdout[-300:]} {p.stderr[-300:]}")
    check(st.get("retries") == 1 and st.get("throttles") == 1,
          f"the first page's throttle is counted: {st}")
    ctl("DELETE", "rules")

    # A stalled body: the per-attempt timeout fires and is reported.
    ctl("PUT", "rules", {"rules": [{"fault": "stall", "seconds": 20, "service": "sts"}]})
    t0 = time.monotonic()
    p = awscall(dict(env, AWS_MAX_ATTEMPTS="1"), "--timeout-ms", "1500", "sts",
                "GetCallerIdentity")
    took = time.monotonic() - t0
    check(p.returncode == 1 and "BSUP_ETIMEDOUT" in p.stderr, f"stall times out: {p.stderr[-300:]}")
    check(took < 10, f"within the timeout: {took:.1f}s")
    ctl("DELETE", "rules")

    # 200 concurrent calls over a bounded number of kept-alive connections.
    ctl("DELETE", "counts")
    p = awscall(env, "--stats", "--rate", "1000", "--concurrent", "200", "sts",
                "GetCallerIdentity")
    st = stats_of(p)
    check(p.returncode == 0 and st.get("calls_ok") == 200, f"200 calls ok: {st}")
    check(0 < st.get("connections_opened", 999) <= 8, f"connections bounded: {st}")
    check(st.get("peak_in_flight", 99) <= 8, f"in flight bounded: {st}")
    check(ctl("GET", "counts")["total"] == 200, "200 requests at the proxy")
    print(f"figure: 200 concurrent calls used {st.get('connections_opened')} connections")

    # Credentials from a stub IMDSv2 on loopback: temporary ones, refreshed before expiry.
    # moto accepts the temporary credentials of an assumed role (not GetSessionToken's).
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    allow = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Action": "*", "Resource": "*"}]})
    role = cli("iam", "create-role", "--role-name", "bsup-role",
               "--assume-role-policy-document", trust)
    cli("iam", "put-role-policy", "--role-name", "bsup-role", "--policy-name", "all",
        "--policy-document", allow)
    sts = cli("sts", "assume-role", "--role-arn", role.json["Role"]["Arn"] if role.json else "-",
              "--role-session-name", "bsup-test").json
    creds = sts and sts["Credentials"]
    check(bool(creds), "temporary credentials from STS AssumeRole")
    fetches = []

    class Imds(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_PUT(self):
            ok = self.path == "/latest/api/token" and \
                self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self.send_response(200 if ok else 400)
            self.end_headers()
            self.wfile.write(b"stub-token")

        def do_GET(self):
            if self.headers.get("X-aws-ec2-metadata-token") != "stub-token":
                self.send_response(401)
                self.end_headers()
                return
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                body = b"bsup-role"
            elif self.path == base + "bsup-role":
                fetches.append(time.time())
                # Expires in 2 minutes: refreshed at the earliest allowed, 15 s from now.
                exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
                body = json.dumps({"Code": "Success", "AccessKeyId": creds["AccessKeyId"],
                                   "SecretAccessKey": creds["SecretAccessKey"],
                                   "Token": creds["SessionToken"], "Expiration": exp}).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ienv = {k: v for k, v in env.items()
            if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED")}
    empty = os.path.join(d, "empty-aws-file")
    open(empty, "w").close()
    ienv.update(AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{srv.server_port}",
                AWS_CONFIG_FILE=empty, AWS_SHARED_CREDENTIALS_FILE=empty)
    p = awscall(ienv, "--stats", "--count", "2", "--interval-ms", "17000", "sts",
                "GetCallerIdentity", timeout=60)
    srv.shutdown()
    st = stats_of(p)
    check(p.returncode == 0 and st.get("calls_ok") == 2, f"calls with IMDS credentials: {p.stderr[-400:]}")
    check(len(fetches) >= 2 and st.get("credential_resolutions", 0) >= 2,
          f"refreshed before expiry: {len(fetches)} fetches, {st}")
    check("imds" in p.stderr, "the log names the provider")
    check(creds["SecretAccessKey"] not in p.stderr, "no secret in the log")

    # valgrind: no leak in a normal run (not for the sanitizer build).
    if shutil.which("valgrind") and not BUILD.rstrip("/").endswith("-asan"):
        p = subprocess.run(["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                            "--error-exitcode=9", "-q", AWSCALL, "--concurrent", "5",
                            "autoscaling", "DescribeAutoScalingGroups"],
                           env=env, capture_output=True, text=True, timeout=180)
        check(p.returncode == 0, f"valgrind clean: {p.returncode} {p.stderr[-800:]}")
    else:
        print("skip valgrind: sanitizer build or no valgrind")

testlib.finish()
