#!/usr/bin/env python3
"""A first target-health reading from the load balancer's own CloudWatch counts (full seed:
each service's target group behind its internal ALB).

The load balancer's HealthyHostCount / UnHealthyHostCount are put here by hand for each
group (the local AWS is started with --no-elb-metrics: its own, moto's all healthy, would be
a later datapoint). A cold bsupd then:

- takes "every target healthy, as many as the group has instances" as the reading of web —
  one GetMetricData for the three groups, no DescribeTargetHealth for web; status shows
  health_from_metrics and the start of the window it covers, bsupctl says where the reading came from;
- reads the targets of pay (one unhealthy at that minute) and api (fewer healthy than its
  instances) as before: the metrics never decide that a service is degraded;
- without cloudwatch:GetMetricData (refused by the proxy), the optional call fails once,
  unsplit, with a warning, and every group is read as before.
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402


SCENARIO = """services:
  - {service_name: web, environment: prod, min_size: 2, max_size: 4}
  - {service_name: pay, environment: prod, min_size: 2, max_size: 4}
  - {service_name: api, environment: staging, min_size: 2, max_size: 4}
"""
GMD = ("monitoring", "GetMetricData")
DTH = ("elasticloadbalancing", "DescribeTargetHealth")

with testlib.environment("--faults", "--no-elb-metrics") as d:
    seeded = R.seed_scenario(d, SCENARIO, "--no-drift")
    env = R.aws_env(d)
    faults = env["BSUP_FAULTS_URL"]
    svcs = [dict(name=n, env=e, min=2, max=4, type="t3.medium")
            for n, e in (("web", "prod"), ("pay", "prod"), ("api", "staging"))]
    dm = R.daemon(d, svcs, seeded["network"])

    # What the load balancer says of the current minute, per service.
    cw = R.moto(d, "cloudwatch")
    minute = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    said = {"web": (2, 0), "pay": (1, 1), "api": (1, 0)}
    services = seeded["services"]
    for s in (services.values() if isinstance(services, dict) else services):
        name = s["target_group_arn"].split(":targetgroup/", 1)[1].split("-", 1)[0]
        healthy, unhealthy = said[name]
        dims = [{"Name": "TargetGroup", "Value": "targetgroup/" +
                 s["target_group_arn"].split(":targetgroup/", 1)[1]},
                {"Name": "LoadBalancer", "Value": s["load_balancer_arn"].split(":loadbalancer/", 1)[1]}]
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
            {"MetricName": "HealthyHostCount", "Dimensions": dims, "Value": healthy,
             "Timestamp": minute + datetime.timedelta(seconds=10), "Unit": "Count"},
            {"MetricName": "UnHealthyHostCount", "Dimensions": dims, "Value": unhealthy,
             "Timestamp": minute + datetime.timedelta(seconds=10), "Unit": "Count"}])

    testlib.control(faults, "DELETE", "counts")
    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)
    check(R.counts(d, *GMD) == 1, f"one GetMetricData for the three groups: {R.counts(d, *GMD)}")
    check(R.counts(d, *DTH) == 2, f"targets read for pay and api only: {R.counts(d, *DTH)}")
    rows = {r["service"]: r for r in dm.ctl_json("status", expect=None)["services"]}
    web = rows["web"]["health"]
    check(web["health_from_metrics"] is True and web["healthy"] == 2 and web["targets"] == 2 and
          int(minute.timestamp()) - 180 <= web["health_read_at"] <= int(minute.timestamp()),
          f"web's reading is the load balancer's, as of its window's start: {web}")
    for name in ("pay", "api"):
        h = rows[name]["health"]
        check(h["health_from_metrics"] is False and h["healthy"] == 2 and h["health_read_at"] > 0,
              f"{name}'s targets were read: {h}")
        check(rows[name]["state"] == "ok", f"{name} is not degraded by the metrics: {rows[name]}")
    text = dm.ctl("status", "web", expect=None).stdout
    check("(the load balancer's metrics)" in text, f"bsupctl says where: {text}")
    rc, _ = dm.stop()
    check(rc == 0, f"stop: {rc}")

    # Without the permission: one refused call (not split per group), a warning, reads as before.
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "monitoring", "action": "GetMetricData", "fault": "status", "status": 403,
         "code": "AccessDenied", "message": "not authorized to perform cloudwatch:GetMetricData"}]})
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm, "--mode", "observe")
    check(p.returncode == 0, f"a cycle without the metrics: {p.returncode} {p.stderr[-600:]}")
    check(R.counts(d, *GMD) == 1 and R.counts(d, *DTH) == 3,
          f"one refused call, every group read: {R.counts(d, *GMD)} {R.counts(d, *DTH)}")
    check("GetMetricData failed (optional, the cycle goes on)" in p.stderr,
          f"the refusal is logged: {p.stderr[-800:]}")
    testlib.control(faults, "DELETE", "rules")

finish()
