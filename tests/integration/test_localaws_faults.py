#!/usr/bin/env python3
"""The local AWS environment speaks AWS: signing is enforced, and every fault
the proxy injects reaches the real AWS CLI as the error we meant; the proxy's
counters match the CLI calls made through it."""

import concurrent.futures
import json
import os
import subprocess
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "scripts", "localaws.d"))
import testlib  # noqa: E402
from testlib import check  # noqa: E402

# (cli args, service, action, expected throttle code, expected HTTP status)
THROTTLE_CASES = [
    (["autoscaling", "describe-auto-scaling-groups"], "autoscaling", "DescribeAutoScalingGroups", "Throttling", 400),
    (["elbv2", "describe-load-balancers"], "elasticloadbalancing", "DescribeLoadBalancers", "Throttling", 400),
    (["rds", "describe-db-instances"], "rds", "DescribeDBInstances", "Throttling", 400),
    (["elasticache", "describe-replication-groups"], "elasticache", "DescribeReplicationGroups", "Throttling", 400),
    (["sns", "list-topics"], "sns", "ListTopics", "Throttling", 400),
    (["sts", "get-caller-identity"], "sts", "GetCallerIdentity", "Throttling", 400),
    (["cloudwatch", "describe-alarms"], "monitoring", "DescribeAlarms", "Throttling", 400),
    (["ec2", "describe-vpcs"], "ec2", "DescribeVpcs", "RequestLimitExceeded", 503),
    (["secretsmanager", "list-secrets"], "secretsmanager", "ListSecrets", "ThrottlingException", 400),
    (["ssm", "describe-parameters"], "ssm", "DescribeParameters", "ThrottlingException", 400),
]


def last_log(base, n=1):
    return testlib.control(base, "GET", "log")["entries"][-n:]


def main():
    t_start = time.monotonic()
    with testlib.environment("--faults", "--seed", "7") as d:
        env = testlib.read_env(d)
        base = env["BSUP_FAULTS_URL"]
        aws = testlib.Cli(d)
        check(env["AWS_ENDPOINT_URL"] != env["BSUP_MOTO_URL"], "endpoint is the proxy")
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                  "AWS_DEFAULT_REGION", "AWS_PAGER", "BSUP_FAULTS_URL"):
            check(k in env, f"env file sets {k}")

        # --- signing
        p = aws("autoscaling", "describe-auto-scaling-groups")
        check(p.returncode == 0 and p.json == {"AutoScalingGroups": []},
              f"correct credentials work ({p.stderr.strip()[:200]})")
        p = aws("autoscaling", "describe-auto-scaling-groups",
                env={"AWS_SECRET_ACCESS_KEY": "wrong"})
        check(p.returncode != 0 and "SignatureDoesNotMatch" in p.stderr,
              f"wrong secret -> SignatureDoesNotMatch ({p.stderr.strip()[:120]})")
        p = aws("rds", "describe-db-instances", env={"AWS_ACCESS_KEY_ID": "AKIANOTAREALKEY00000"})
        check(p.returncode != 0 and "InvalidClientTokenId" in p.stderr,
              f"unknown key id -> InvalidClientTokenId ({p.stderr.strip()[:120]})")
        # direct to moto, no proxy: enforcement is moto's, not the proxy's
        p = aws("sts", "get-caller-identity", env={"AWS_ENDPOINT_URL": env["BSUP_MOTO_URL"],
                                                   "AWS_SECRET_ACCESS_KEY": "wrong"})
        check("SignatureDoesNotMatch" in p.stderr, "moto itself refuses a wrong secret")

        # --- throttling, per service, exactly as the service answers it
        for args, svc, action, code, status in THROTTLE_CASES:
            testlib.control(base, "PUT", "rules", {"rules": [
                {"service": svc, "action": action, "fault": "throttle", "count": 1}]})
            p = aws(*args)
            check(p.returncode != 0 and f"({code})" in p.stderr,
                  f"throttle {svc}:{action} -> {code} ({p.stderr.strip()[:100]})")
            e = last_log(base)[0]
            check(e["service"] == svc and e["action"] == action and e["status"] == status,
                  f"log {svc}:{action} status {e['status']} == {status}")
        # count: 1 means the next call goes through
        p = aws("ssm", "describe-parameters")
        check(p.returncode == 0, "count-limited rule stops after its count")

        # --- clock skew
        for args, code in ((["autoscaling", "describe-auto-scaling-groups"], "SignatureDoesNotMatch"),
                           (["ec2", "describe-vpcs"], "RequestExpired"),
                           (["secretsmanager", "list-secrets"], "InvalidSignatureException")):
            testlib.control(base, "PUT", "rules", {"rules": [{"fault": "skew", "count": 1}]})
            p = aws(*args)
            check(f"({code})" in p.stderr, f"skew {args[0]} -> {code} ({p.stderr.strip()[:140]})")
            if code != "RequestExpired":
                check("Signature expired:" in p.stderr, f"skew {args[0]} message names the expiry")

        # --- 500 / 503
        for st, code in ((500, "InternalFailure"), (503, "ServiceUnavailable")):
            testlib.control(base, "PUT", "rules", {"rules": [
                {"service": "rds", "fault": "status", "status": st, "count": 1}]})
            p = aws("rds", "describe-db-instances")
            check(f"({code})" in p.stderr, f"status {st} -> {code} ({p.stderr.strip()[:100]})")

        # --- transport faults
        testlib.control(base, "PUT", "rules", {"rules": [{"fault": "reset", "count": 1}]})
        p = aws("sts", "get-caller-identity")
        check(p.returncode != 0 and "Connection was closed" in p.stderr,
              f"reset -> connection closed ({p.stderr.strip()[:100]})")
        testlib.control(base, "PUT", "rules", {"rules": [{"fault": "truncate", "count": 1}]})
        p = aws("sts", "get-caller-identity")
        check(p.returncode != 0 and ("Connection was closed" in p.stderr or "IncompleteRead" in p.stderr),
              f"truncated body -> error ({p.stderr.strip()[:100]})")
        testlib.control(base, "PUT", "rules", {"rules": [{"fault": "stall", "stall_s": 4, "count": 1}]})
        p = aws("sts", "get-caller-identity", read_timeout=1)
        check(p.returncode != 0 and "Read timeout" in p.stderr and p.elapsed_s < 15,
              f"stalled body -> read timeout in {p.elapsed_s:.1f}s ({p.stderr.strip()[:80]})")

        # --- latency (fixed + jitter), per action
        testlib.control(base, "PUT", "rules", {"rules": [
            {"service": "sts", "action": "GetCallerIdentity", "fault": "latency",
             "latency_ms": 700, "jitter_ms": 100}]})
        p = aws("sts", "get-caller-identity")
        e = last_log(base)[0]
        check(p.returncode == 0 and 700 <= e["ms"] < 3000, f"latency: proxy held {e['ms']} ms")
        testlib.control(base, "DELETE", "rules")

        # --- counters match the CLI calls made through the proxy
        testlib.control(base, "DELETE", "counts")
        plan = [("sts", "get-caller-identity")] * 3 + [("autoscaling", "describe-auto-scaling-groups")] * 2 \
            + [("cloudwatch", "describe-alarms")]
        for a in plan:
            check(aws(*a).returncode == 0, f"clean call {' '.join(a)}")
        c = testlib.control(base, "GET", "counts")
        check(c["total"] == len(plan), f"proxy total {c['total']} == {len(plan)} CLI calls")
        check(c["services"].get("sts", {}).get("GetCallerIdentity") == 3, "3 sts GetCallerIdentity counted")
        check(c["services"].get("autoscaling", {}).get("DescribeAutoScalingGroups") == 2, "2 DescribeAutoScalingGroups counted")
        check(c["services"].get("monitoring", {}).get("DescribeAlarms") == 1, "1 DescribeAlarms counted")
        log = testlib.control(base, "GET", "log")["entries"]
        check(len(log) == len(plan) and all(x["status"] == 200 for x in log), "log has one 200 entry per call")
        # a log entry (and its bytes) is completed just after its answer went out: read the
        # totals again now that the log shows every call answered
        b = testlib.control(base, "GET", "counts")["bytes"]
        check(b["in"] == sum(x["bytes_in"] for x in log) and b["out"] == sum(x["bytes_out"] for x in log)
              and all(x["bytes_in"] > 100 and x["bytes_out"] > 100 for x in log),
              f"bytes counted per call and in total: in {b['in']}, out {b['out']}: "
              f"{[(x['bytes_in'], x['bytes_out']) for x in log]}")
        check(b["services"]["sts"]["GetCallerIdentity"]["out"] > 0, "bytes per service and action")
        ts = [x["t"] for x in log]
        check(ts == sorted(ts) and all(isinstance(t, float) for t in ts), "log timestamps ordered")

        # sliding-window rate over the log: 3 sts calls, each ~1 s of CLI apart
        r = testlib.control(base, "GET", "rate?window_s=60&service=sts")
        check(r["requests"] == 3 and r["max_in_window"] == 3, f"rate: 3 sts calls within 60 s ({r})")
        r = testlib.control(base, "GET", "rate?window_s=0.001&service=sts")
        check(r["max_in_window"] == 1, f"rate: at most 1 sts call per ms ({r['max_in_window']})")
        p = subprocess.run([testlib.LOCALAWS, "faults", "--dir", d, "rate", "window_s=1"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0 and json.loads(p.stdout)["requests"] == len(plan), "faults rate CLI")

        # --- an AWS-style token bucket: burst 2, then 0.001/s: the third call is throttled
        testlib.control(base, "PUT", "rules", {"rules": [
            {"service": "sts", "action": "Get*", "fault": "throttle",
             "bucket": {"burst": 2, "rate": 0.001}}]})
        codes = [aws("sts", "get-caller-identity").returncode for _ in range(3)]
        rules = testlib.control(base, "GET", "rules")["rules"]
        check(codes[:2] == [0, 0] and codes[2] != 0 and rules[0]["applied"] == 1,
              f"bucket: 2 calls pass, the 3rd is throttled ({codes}, {rules[0]})")
        testlib.control(base, "DELETE", "rules")

        # --- probability is deterministic under the seed
        concurrency_and_determinism(d, base)
    print(f"runtime {time.monotonic() - t_start:.1f}s")
    testlib.finish()


def concurrency_and_determinism(d, base):
    import boto3
    from botocore.config import Config
    from botocore.awsrequest import AWSRequest
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials
    env = testlib.read_env(d)
    host_port = env["AWS_ENDPOINT_URL"].split("//", 1)[1]
    host, port = host_port.split(":")

    def pattern():
        testlib.control(base, "PUT", "rules", {"seed": 1234, "rules": [
            {"service": "sts", "fault": "throttle", "probability": 0.5}]})
        sts = boto3.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                           aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                           aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                           config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        out = ""
        for _ in range(24):
            try:
                sts.get_caller_identity()
                out += "."
            except sts.exceptions.ClientError as e:
                out += "T" if e.response["Error"]["Code"] == "Throttling" else "?"
        return out
    a, b = pattern(), pattern()
    check(a == b and "T" in a and "." in a and "?" not in a,
          f"seeded probability 0.5 is deterministic: {a} / {b}")
    testlib.control(base, "DELETE", "rules")

    # 200 concurrent connections, each a signed request held open together
    creds = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method="POST", url=env["AWS_ENDPOINT_URL"] + "/",
                     data="Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(creds, "sts", "us-east-1").add_auth(req)
    head = f"POST / HTTP/1.1\r\nHost: {host_port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "host")
    body = req.body.encode() if isinstance(req.body, str) else req.body
    raw = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    testlib.control(base, "DELETE", "counts")
    n = 200
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=60)
        socks.append(s)
    barrier = threading.Barrier(n, timeout=60)

    def one(s):
        barrier.wait()
        s.sendall(raw)
        f = s.makefile("rb")
        status = f.readline().split()[1]
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            k, v = line.decode().split(":", 1)
            if k.lower() == "content-length":
                length = int(v)
        data = f.read(length)
        # keep-alive: a second request on the same connection
        s.sendall(raw)
        status2 = f.readline().split()[1]
        s.close()
        return status == b"200" and b"GetCallerIdentityResult" in data and status2 == b"200"
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        results = list(ex.map(one, socks))
    check(all(results), f"200 concurrent keep-alive connections: {sum(results)}/{n} ok "
          f"in {time.monotonic() - t0:.1f}s")
    c = testlib.control(base, "GET", "counts")
    check(c["total"] == 2 * n, f"proxy counted {c['total']} == {2 * n}")


if __name__ == "__main__":
    main()
