#!/usr/bin/env python3
"""The damped replacement counts readings at the load balancer's pace, not bsupctl's: a target
health reading counts toward health_check.unhealthy_cycles only once the target group's
HealthCheckIntervalSeconds has passed since the last one counted (docs/reconcile.md, "Damped
replacement"). Requested cycles back to back (bsupctl reconcile --wait) read the targets each
time but bring no marking forward; spaced readings still mark after unhealthy_cycles.

moto reports every instance healthy: the fault proxy rewrites DescribeTargetHealth (one
instance unhealthy), as in test_health.py."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

# The seed's health check (ELBv2's 30 s interval): the back-to-back cycles below are well
# within one interval.
SCENARIO = "services:\n  - {service_name: gate, environment: staging, min_size: 4, max_size: 8}\n"
EXTRA = ("health_check: {path: /health, healthy_threshold: 3, unhealthy_threshold: 3, "
         "replace_unhealthy: true, unhealthy_cycles: 3}\n")
MARK = ("autoscaling", "SetInstanceHealth")

with testlib.environment("--faults") as d:
    net = R.seed_scenario(d, SCENARIO, "--lean", "--no-drift")["network"]
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    svc = dict(name="gate", env="staging", min=4, max=8, type="t3.medium")
    dm = R.daemon(d, [svc], net, settings="interval: 1d\nmode: enforce\ncooldown: 0s\n",
                  extra={"gate": EXTRA})
    cli = testlib.Cli(d)
    group = cli("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names",
                "gate-staging").json["AutoScalingGroups"][0]
    sick_id = sorted(i["InstanceId"] for i in group["Instances"])[0]
    healthy = ("<Target><Id>{}</Id><Port>8080</Port></Target><HealthCheckPort>traffic-port"
               "</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth>")
    sick = ("<Target><Id>{}</Id><Port>8080</Port></Target><HealthCheckPort>traffic-port"
            "</HealthCheckPort><TargetHealth><State>unhealthy</State><Reason>"
            "Target.FailedHealthChecks</Reason><Description>Health checks failed</Description>"
            "</TargetHealth>")
    # Refused: the load balancer's CloudWatch counts (moto's, all healthy) would stand in for
    # the first target read this rewrites.
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "monitoring", "action": "GetMetricData", "fault": "status", "status": 403,
         "code": "AccessDenied", "message": "not in this test"},
        {"service": "elasticloadbalancing", "action": "DescribeTargetHealth", "fault": "rewrite",
         "request_contains": "targetgroup/gate-staging/",
         "replace": [[healthy.format(sick_id), sick.format(sick_id)]]}]})

    dm.start()

    def status():
        return dm.ctl_json("status", "gate", expect=None)["services"][0]

    def reading():
        """One requested cycle; the target health it read (every cycle: the service looks
        wrong) and the replacement's state after it."""
        dm.ctl("reconcile", "gate", "--wait", expect=None)
        st = status()
        return st["health"], st["replacement"]

    # ---- back to back: six readings within the target group's 30 s interval ----
    testlib.control(faults, "DELETE", "counts")
    h, r = reading()
    first = h["health_read_at"]
    check(h["unhealthy"] == 1 and r["memory"].startswith(f"{sick_id}:1"),
          f"the first reading counts: {h['unhealthy']} {r}")
    for _ in range(5):
        h, r = reading()
    took = h["health_read_at"] - first
    check(took < 30, f"six requested cycles within the 30 s interval: {took}s")
    reads = R.counts(d, "elasticloadbalancing", "DescribeTargetHealth")
    check(reads == 6, f"each requested cycle read the targets: {reads}")
    check(r["memory"].startswith(f"{sick_id}:1"),
          f"readings within the health-check interval do not grow the streak: {r}")
    check(R.counts(d, *MARK) == 0, f"six requested cycles in {took}s mark nothing: "
          f"{R.counts(d, *MARK)}")
    check("health-check interval" in r["waiting"], f"and say why: {r['waiting']}")

    # ---- spaced: a 5 s health-check interval, readings 5 s apart mark after three ----
    R.drift(d, "gate-staging", "hc-timeout", 2)
    R.drift(d, "gate-staging", "hc-interval", 5)

    def spaced():
        # The rule is about wall time: wait it out (bounded), then read; a second more, as
        # bsupd's clock is in whole seconds and may lag Python's by a few milliseconds.
        due = status()["health"]["health_read_at"] + 5 + 1
        while time.time() < due:
            time.sleep(due - time.time())
        return reading()

    h, r = spaced()
    check(h["interval"] == 5, f"the target group's interval is now 5: {h['interval']}")
    check(r["memory"].startswith(f"{sick_id}:2") and R.counts(d, *MARK) == 0,
          f"the second counted reading: {r}")
    h, r = spaced()
    check(R.counts(d, *MARK) == 1, f"the third counted reading marks it: {r}")
    events = dm.ctl_json("events", "--service", "gate")["events"]
    check(any(e["kind"] == "action.applied" and f"SetInstanceHealth instance/{sick_id}"
              in e["message"] for e in events), "action.applied for the marking")
    dm.stop()

finish()
