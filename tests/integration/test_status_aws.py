#!/usr/bin/env python3
"""status's engine.aws against the local AWS: after a cycle, each AWS service called has its
finished calls, latency and endpoint, and nothing in flight; while the fault proxy holds an
answer, the call shows in flight with an age that grows (what a hung endpoint looks like). A
drop-in naming another VPC than its target group's has it reported."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

HOLD_MS = 8000

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 1)
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    host = R.aws_env(d)["AWS_ENDPOINT_URL"].split("://", 1)[1].rstrip("/")
    dm = R.daemon(d, services, net)
    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)
    aws = dm.ctl_json("status", expect=None)["engine"]["aws"]
    print("engine.aws after a cycle:", aws)
    check({"autoscaling", "elbv2", "rds"} <= set(aws), f"the services a cycle calls: {set(aws)}")
    for name, v in aws.items():
        # (the publisher and the alarm sweep call CloudWatch and SNS on their own timers)
        idle = name in ("cloudwatch", "sns") or (v["in_flight"] == 0 and
                                                 v["oldest_in_flight_s"] is None)
        check(v["requests"] > 0 and v["latency_avg_ms"] is not None and
              v["latency_max_ms"] >= v["latency_avg_ms"] >= 0 and v["endpoint"] == host and
              idle and
              v["errors"] <= v["requests"] and v["retries"] >= 0 and v["throttles"] >= 0 and
              (v["last_error"] is None) == (v["last_error_at"] is None),
              f"{name} after a cycle: {v}")

    # A held answer: in flight, and its age grows while it is held.
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "latency", "service": "autoscaling", "latency_ms": HOLD_MS}]})
    before = aws["autoscaling"]["requests"]
    dm.ctl("reconcile", expect=0)
    seen = []

    def held(min_age):
        v = dm.ctl_json("status", expect=None)["engine"]["aws"]["autoscaling"]
        seen.append(v)
        return v["in_flight"] >= 1 and v["oldest_in_flight_s"] >= min_age and v

    first = R.bsuptest.poll(lambda: held(0), lambda: f"the call in flight: {seen[-3:]}", 30)
    later = R.bsuptest.poll(lambda: held(first["oldest_in_flight_s"] + 2),
                            lambda: f"its age growing: {seen[-3:]}", 30)
    check(later["in_flight"] == 1 and later["requests"] == before,
          f"held: one call in flight, not counted as finished yet: {later}")
    testlib.control(faults, "DELETE", "rules")
    # Once answered, it is counted and nothing is in flight.
    done = R.bsuptest.poll(
        lambda: (lambda v: v["in_flight"] == 0 and v)(
            dm.ctl_json("status", expect=None)["engine"]["aws"]["autoscaling"]),
        "the held call answered", 60)
    check(done["requests"] > before and done["latency_max_ms"] >= HOLD_MS - 1000,
          f"answered: counted with its latency: {done}")
    rc, _ = dm.stop()
    check(rc == 0, f"stop: {rc}")

    # A drop-in whose vpc_id is not its target group's: reported (drift), never changed.
    other = dict(net, vpc_id="vpc-0123456789abcdef0")
    dv = R.daemon(d, services, other)
    dv.start()
    dv.ctl("reconcile", "--wait", expect=None)
    acts = [a for row in dv.ctl_json("plan", expect=1)["services"] for a in row["actions"]]
    vpc = [c for a in acts if a["action"] == "report" for c in a["changes"] if c["field"] == "VpcId"]
    check(len(vpc) == 1 and vpc[0]["observed"] == net["vpc_id"] and
          vpc[0]["desired"] == other["vpc_id"], f"the target group's VPC reported: {acts}")
    dv.stop()

finish()
