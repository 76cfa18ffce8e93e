#!/usr/bin/env python3
"""Batched observation and pacing against the local AWS: one cycle over 100 services makes at
most 1.3 observing calls per service (the fault proxy counts them); with the ELBv2 budget at
5/s, no one-second window holds more ELBv2 calls than the budget allows, and nothing is
throttled."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

N = 100
BUILD = os.environ.get("BSUP_BUILD_DIR", "build")

with testlib.environment("--faults") as d:
    services, net = R.seed(d, N)
    check(len(services) == N, f"{N} services seeded")
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    dm = R.daemon(d, services, net, settings="rate_limits:\n  elbv2_describe: {burst: 5, rate: 5}\n")

    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm)
    c = testlib.control(faults, "GET", "counts")
    observing = sum(n for svc in c["services"].values() for act, n in svc.items()
                    if act.startswith("Describe") or act.startswith("List") or act.startswith("Get"))
    per = observing / N
    print(f"figure: one cycle over {N} services made {observing} observing calls "
          f"({per:.2f} per service): {json.dumps(c['services'])}")
    check(p.returncode == 0, f"--once over {N} services in sync: {p.returncode} {p.stderr[-500:]}")
    check(per <= 1.3, f"at most 1.3 observing calls per service: {per:.2f}")
    check(c["services"]["autoscaling"]["DescribeAutoScalingGroups"] <= 2,
          "DescribeAutoScalingGroups batched by 100 names")

    # The configured budget reaches the client (status shows it).
    dm.start()
    eng = dm.ctl_json("status")["engine"]
    check(eng["api"]["elbv2_describe"]["rate_per_s"] == 5, f"budget configured: {eng['api']['elbv2_describe']}")
    dm.stop()

    # The same client paces 40 ELBv2 calls made at once at 5/s (burst 5).
    testlib.control(faults, "DELETE", "counts")
    p = subprocess.run([os.path.join(BUILD, "tests", "awscall"), "--rate", "5", "--concurrent",
                        "40", "elbv2", "DescribeTargetGroups"], env=R.aws_env(d),
                       capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"40 paced calls: {p.stderr[-300:]}")
    rate = testlib.control(faults, "GET", "rate?window_s=1&service=elasticloadbalancing")
    print(f"figure: ELBv2 at 5/s: {rate['requests']} calls, at most {rate['max_in_window']} "
          "in any 1 s window")
    check(rate["requests"] == 40 and rate["max_in_window"] <= 10,
          f"no window above burst + rate (5 + 5): {rate}")
    log = testlib.control(faults, "GET", "log")["entries"]
    check(all(e["status"] < 400 for e in log), "nothing throttled")

finish()
