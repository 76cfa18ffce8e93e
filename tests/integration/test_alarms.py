#!/usr/bin/env python3
"""The alarms domain against the local AWS (full seed: target groups and databases):

- observe mode: bsupd's alarms are planned (owned actions) but nothing is put, and the
  services stay in sync (exit 0);
- enforce mode: each service gets bsup-<service>-<environment>-<what> alarms with the right
  metric, threshold, period, dimensions, actions (the service's topic, else the default) and
  the bsup:owner tag; a second cycle puts nothing (DescribeAlarms only, 99 names per call);
- an alarm edited by hand is put back with one PutMetricAlarm;
- a service removed from the drop-ins loses its alarms and its leftover restore-drill instance
  on the running daemon's reload (the sweep: tagged ones only; an untagged alarm of the same
  name form is left alone, a declared service's drill is kept), with alarm.deleted and
  drill.deleted events;
- figure: DescribeAlarms calls for 40 services in one cycle beside the minimum (ceil(3 x 40 /
  100) names per call is 2; one call per 33 services is 2).
"""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

SCENARIO = """services:
  - {service_name: web, environment: prod, min_size: 2, max_size: 4}
  - {service_name: api, environment: staging, min_size: 2, max_size: 4}
  - {service_name: jobs, environment: dev, min_size: 1, max_size: 2}
"""
PUT = ("monitoring", "PutMetricAlarm")
DESCRIBE = ("monitoring", "DescribeAlarms")
DELETE = ("monitoring", "DeleteAlarms")


def drill_instance(rds, service):
    """A restore-drill instance as the backup domain makes them."""
    rds.create_db_instance(DBInstanceIdentifier=f"bsup-restore-{service}-20261201",
                           Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="drill", MasterUserPassword="drill-password-1",
                           Tags=[{"Key": "bsup:drill", "Value": service}])


def drills(rds):
    return {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]
            if i["DBInstanceIdentifier"].startswith("bsup-restore-")}


def alarms(cw):
    return {a["AlarmName"]: a for a in
            cw.describe_alarms(AlarmNamePrefix="bsup-")["MetricAlarms"]}


with testlib.environment("--faults") as d:
    net = R.seed_scenario(d, SCENARIO, "--no-drift")["network"]
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    cw, sns, rds = R.moto(d, "cloudwatch"), R.moto(d, "sns"), R.moto(d, "rds")
    default_topic = sns.create_topic(Name="oncall")["TopicArn"]
    web_topic = sns.create_topic(Name="web-team")["TopicArn"]
    svcs = [dict(name=n, env=e, min=mn, max=mx, type="t3.medium")
            for n, e, mn, mx in (("web", "prod", 2, 4), ("api", "staging", 2, 4),
                                 ("jobs", "dev", 1, 2))]
    extra = {"web": f"health_check: {{path: /health, healthy_threshold: 3, unhealthy_threshold: 3,"
                    f" min_healthy: 2}}\nbackup: {{max_age: 30h}}\n"
                    f"alerts: {{sns_topic_arn: '{web_topic}'}}\n"}
    settings = f"interval: 5m\ncooldown: 0s\nalerts:\n  sns_topic_arn: {default_topic}\n"
    dm = R.daemon(d, svcs, net, settings=settings, extra=extra)
    db = os.path.join(dm.state, "bsup.db")

    # ---- observe: planned, not put; the services stay in sync ----
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm, "--mode", "observe")
    check(p.returncode == 0, f"observe: in sync despite bsupd's missing alarms: {p.returncode} "
          f"{p.stderr[-800:]}")
    check(R.counts(d, *PUT) == 0 and alarms(cw) == {}, "observe mode puts no alarm")

    # ---- enforce: created as declared ----
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm, "--mode", "enforce")
    check(p.returncode == 0, f"enforce: exit 0: {p.returncode} {p.stderr[-800:]}")
    have = alarms(cw)
    want = {f"bsup-{n}-{e}-{w}" for n, e in (("web", "prod"), ("api", "staging"), ("jobs", "dev"))
            for w in ("healthy", "backup-age", "errors")}
    check(set(have) == want, f"three alarms per service: {sorted(set(have) ^ want)}")
    check(R.counts(d, *PUT) == len(want), f"one PutMetricAlarm per alarm: {R.counts(d, *PUT)}")
    h = have.get("bsup-web-prod-healthy", {})
    check(h.get("MetricName") == "HealthyHostCount" and h.get("Threshold") == 2.0 and
          h.get("ComparisonOperator") == "LessThanThreshold" and h.get("Namespace") == "BSUP" and
          h.get("Period") == 300 and h.get("EvaluationPeriods") == 3,
          f"healthy hosts below min_healthy: {h}")
    check(h.get("AlarmActions") == [web_topic] and h.get("OKActions") == [web_topic],
          f"the service's own topic: {h.get('AlarmActions')}")
    dims = sorted((x["Name"], x["Value"]) for x in h.get("Dimensions", []))
    check(dims == [("Environment", "prod"), ("Service", "web")], f"dimensions: {dims}")
    b = have.get("bsup-web-prod-backup-age", {})
    check(b.get("MetricName") == "BackupAgeSeconds" and b.get("Threshold") == 30 * 3600.0 and
          b.get("ComparisonOperator") == "GreaterThanThreshold", f"backup age above max_age: {b}")
    e = have.get("bsup-api-staging-errors", {})
    check(e.get("MetricName") == "ReconcileErrors" and e.get("EvaluationPeriods") == 3 and
          e.get("AlarmActions") == [default_topic] and e.get("TreatMissingData") == "notBreaching",
          f"errors for 3 periods, to the default topic: {e}")
    tags = cw.list_tags_for_resource(ResourceARN=e.get("AlarmArn", ""))["Tags"]
    check({"Key": "bsup:owner", "Value": "bsupd"} in tags, f"tagged as bsupd's: {tags}")

    # ---- in sync: nothing is put again ----
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm, "--mode", "enforce")
    check(p.returncode == 0 and R.counts(d, *PUT) == 0,
          f"second cycle: no PutMetricAlarm ({R.counts(d, *PUT)})")
    check(R.counts(d, *DESCRIBE) == 1, f"one DescribeAlarms for 3 services: {R.counts(d, *DESCRIBE)}")

    # ---- edited by hand: put back ----
    cw.put_metric_alarm(AlarmName="bsup-api-staging-errors", Namespace="BSUP",
                        MetricName="ReconcileErrors", Statistic="Maximum", Period=300,
                        EvaluationPeriods=1, Threshold=5,
                        ComparisonOperator="GreaterThanOrEqualToThreshold",
                        Dimensions=[{"Name": "Service", "Value": "api"},
                                    {"Name": "Environment", "Value": "staging"}])
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm, "--mode", "enforce")
    e = alarms(cw)["bsup-api-staging-errors"]
    check(p.returncode == 0 and R.counts(d, *PUT) == 1 and e["Threshold"] == 1.0 and
          e["EvaluationPeriods"] == 3 and e["AlarmActions"] == [default_topic],
          f"one PutMetricAlarm puts it back: {R.counts(d, *PUT)} {e}")

    # ---- a service removed: its alarms and drill instance go on the daemon's reload ----
    drill_instance(rds, "jobs")
    drill_instance(rds, "web")  # a declared service's drill is the backup domain's
    cw.put_metric_alarm(AlarmName="bsup-gone-prod-errors", Namespace="BSUP",
                        MetricName="ReconcileErrors", Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=1,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")  # not tagged
    with open(dm.settings, "a") as f:
        f.write("mode: enforce\n")
    dm.start()
    os.unlink(os.path.join(dm.conf, "0002-jobs.yaml"))
    dm.ctl("reload", expect=0)

    def swept():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        n = con.execute("SELECT COUNT(*) FROM events WHERE kind = 'alarm.deleted'").fetchone()[0]
        con.close()
        return n == 3
    R.bsuptest.poll(swept, lambda: "alarm.deleted events:\n" + "\n".join(
        l for l in dm.logtext().splitlines() if "alarm" in l)[-2000:], timeout_s=30)
    left = set(alarms(cw))
    check(not any(n.startswith("bsup-jobs-dev-") for n in left), f"jobs' alarms deleted: {left}")
    check(want - {n for n in want if n.startswith("bsup-jobs-")} <= left,
          "the declared services keep theirs")
    check("bsup-gone-prod-errors" in left, "an alarm without bsupd's tag is left alone")
    check(R.counts(d, *DELETE) == 1, f"one DeleteAlarms: {R.counts(d, *DELETE)}")
    check(drills(rds) == {"bsup-restore-web-20261201"},
          f"the removed service's drill instance is deleted, the declared one's kept: "
          f"{drills(rds)}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    n = con.execute("SELECT COUNT(*) FROM events WHERE kind = 'drill.deleted'").fetchone()[0]
    con.close()
    check(n == 1, f"a drill.deleted event: {n}")
    dm.stop()

    # ---- paced, not capped: 40 services' alarms at the PutMetricAlarm budget ----
    # (No such groups exist: the services are missing, their errors alarms are wanted anyway.)
    # At 1 call per second and a 10 s interval, a cycle puts 10 alarms and holds the rest
    # "paced": above the 3 changes per service and 20 per cycle of the caps, below the budget.
    many = [dict(name=f"svc{i:02d}", env="dev", min=1, max=2, type="t3.micro") for i in range(40)]
    dm2 = R.daemon(d, many, net, settings="interval: 10s\nmax_changes_per_cycle: 5\n"
                   "rate_limits:\n  cloudwatch_put_metric_alarm: {burst: 1, rate: 1}\n")
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm2, "--mode", "enforce")
    calls = R.counts(d, *DESCRIBE)
    print(f"figure: DescribeAlarms for 40 services in one cycle: {calls} calls "
          f"(minimum by the API's 100 names per call: 2)")
    check(calls == 2, f"two DescribeAlarms for 40 services: {calls}")
    check(R.counts(d, *PUT) == 10, f"one interval's worth of PutMetricAlarm: {R.counts(d, *PUT)}")
    check(len([n for n in alarms(cw) if n.startswith("bsup-svc")]) == 10, "10 alarms put")
    p = R.once(dm2, "--mode", "enforce")
    check(len([n for n in alarms(cw) if n.startswith("bsup-svc")]) == 20,
          "the next cycle puts the next 10")

finish()
