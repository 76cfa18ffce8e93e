#!/usr/bin/env python3
"""Restore drills and the pages they send, against the local AWS (moto behind the fault proxy;
SNS into an SQS queue the test reads): a failed drill is one alert, `drill-failed`, which says
what failed, and its end is one `recovered`; a restore AWS refuses (a quota, a parameter) is a
failed drill that could not start — one alert with AWS's message, the next try a day later,
not an error retried each cycle — while throttling or a 5xx stays an error retried as any
change; and a `missing` cache group stands across a restart while its read fails (no
`recovered`, no `missing` again)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

SCENARIO = """services:
  - service_name: pay
    environment: dev
    backup_retention: 7
"""
# moto restores at once: the drill's instance is made to fail by rewriting its status.
FAIL = {"service": "rds", "action": "DescribeDBInstances", "fault": "rewrite",
        "request_contains": "bsup-restore-",
        "replace": [["<DBInstanceStatus>available</DBInstanceStatus>",
                     "<DBInstanceStatus>incompatible-restore</DBInstanceStatus>"]]}

with testlib.environment("--faults") as d:
    env = R.aws_env(d)
    faults = env["BSUP_FAULTS_URL"]
    sns, sqs = R.moto(d, "sns"), R.moto(d, "sqs")
    topic = sns.create_topic(Name="bsup-drill-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-drill-alerts")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sqs.get_queue_attributes(
        QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    net = R.seed_scenario(d, SCENARIO)["network"]
    services = [dict(name="pay", env="dev", min=2, max=4, type="t3.medium", retention=7)]
    SETTINGS = (f"mode: enforce\ninterval: 1d\ncooldown: 0s\nmetrics:\n  interval: 1s\n"
                f"alerts:\n  sns_topic_arn: {topic}\n  reminder: 0s\n  recovery_hold: 0s\n")

    def daemon(extra):
        dm = R.daemon(d, services, net, settings=SETTINGS, extra={"pay": extra})
        dm.start()
        return dm

    def dropin(dm, extra):
        dm.write("0000-pay.yaml", R.dropin(services[0], net, extra))
        dm.ctl("reload", expect=None)

    def cycle(dm):
        dm.ctl("reconcile", "pay", "--wait", expect=None)

    def row(dm):
        return [r for r in dm.ctl_json("status", expect=None)["services"]
                if r["service"] == "pay"][0]

    def events(dm, kind):
        return [e["message"] for e in dm.ctl_json("events", "--service", "pay")["events"]
                if e["kind"] == kind]

    def sent(dm):
        """The bodies of every alert SNS delivered since the last call, once bsupd's alert
        outbox is empty."""
        R.bsuptest.poll(lambda: dm.ctl_json("status", expect=None)["daemon"]["metrics"]
                        ["alerts_waiting"] == 0,
                        lambda: f"alerts published: {dm.ctl_json('status')['daemon']['metrics']}",
                        timeout_s=60)
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(json.loads(m["Body"])["Message"]))
                sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])

    # ---- a failed drill: one page that says so, and one when it no longer stands ----
    dm = daemon("backup: {restore_test: 7d}\n")
    testlib.control(faults, "PUT", "rules", {"rules": [FAIL]})
    for _ in range(3):  # scheduled, restored, failed (and its deletion sent)
        cycle(dm)
    r = row(dm)
    check(r["state"] == "degraded" and r["backup"]["last_drill"] == "failed",
          f"a failed drill degrades the service: {r['state']} {r['backup']['last_drill']}")
    check(len(events(dm, "service.degraded")) == 1 and len(events(dm, "drill.failed")) == 1,
          "both events are recorded")
    got = sent(dm)
    check([b["what"] for b in got] == ["drill-failed"],
          f"one alert for one failed drill: {[(b['what'], b['message']) for b in got]}")
    check(got and got[0]["observed"] == "failed: incompatible-restore"
          and got[0]["desired"] == "available", f"it says what failed: {got}")
    testlib.control(faults, "DELETE", "rules")
    cycle(dm)  # the failed drill's instance is gone
    check(sent(dm) == [], "nothing more while the failed drill stands")
    dropin(dm, "")  # restore_test off: the failed drill judges nothing any more
    cycle(dm)
    got = sent(dm)
    check(row(dm)["state"] == "ok" and [b["what"] for b in got] == ["recovered"],
          f"its end is one recovered alert: {[(b['what'], b['message']) for b in got]}")
    dm.stop()

    def count(action):
        return R.counts(d, "rds", action)

    # ---- a restore AWS refuses: a failed drill that could not start, not an error ----
    REFUSED = {"service": "rds", "action": "RestoreDBInstanceFromDBSnapshot", "fault": "throttle",
               "status": 400, "code": "InstanceQuotaExceeded",
               "message": "DB instance quota exceeded"}
    dm = daemon("backup: {restore_test: 7d}\n")
    testlib.control(faults, "PUT", "rules", {"rules": [REFUSED]})
    restores = count("RestoreDBInstanceFromDBSnapshot")
    cycle(dm)  # scheduled
    cycle(dm)  # the restore goes out and is refused
    r = row(dm)
    b = r["backup"]
    check(count("RestoreDBInstanceFromDBSnapshot") == restores + 1, "the restore went out once")
    check(r["state"] == "degraded" and b["last_drill"] == "failed"
          and b["last_drill_why"] == "refused-InstanceQuotaExceeded" and b["drill"] == "idle",
          f"a failed drill, not an error: {r['state']} {r['error']} {b}")
    check(any("InstanceQuotaExceeded" in m and "DB instance quota exceeded" in m
              for m in events(dm, "action.refused")), f"AWS's answer in an event: "
          f"{events(dm, 'action.refused')} {events(dm, 'action.failed')}")
    got = sent(dm)
    check([x["what"] for x in got] == ["drill-failed"]
          and got[0]["observed"].startswith("could not start: InstanceQuotaExceeded: DB instance "
                                            "quota exceeded"),
          f"one alert, with AWS's message: {[(x['what'], x['observed']) for x in got]}")
    day = b["next_drill_at"] - b["last_drill_at"]
    check(day == 86400, f"the next drill a day later: {day}")
    for _ in range(2):
        cycle(dm)
    r = row(dm)
    check(count("RestoreDBInstanceFromDBSnapshot") == restores + 1 and r["state"] == "degraded",
          f"not sent again each cycle: {count('RestoreDBInstanceFromDBSnapshot')} {r['state']}")
    check(sent(dm) == [], "no alert again")
    dm.stop()

    # ---- a 5xx is no refusal: the cycle is in error and the restore goes out again ----
    dm = daemon("backup: {restore_test: 7d}\n")
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "rds", "action": "RestoreDBInstanceFromDBSnapshot", "fault": "status",
         "status": 503, "count": 1}]})
    restores = count("RestoreDBInstanceFromDBSnapshot")
    cycle(dm)
    cycle(dm)
    r = row(dm)
    check(r["state"] == "error" and r["backup"]["last_drill"] == "",
          f"a 5xx: the cycle failed, no drill result: {r['state']} {r['backup']['last_drill']}")
    cycle(dm)
    check(count("RestoreDBInstanceFromDBSnapshot") == restores + 2,
          f"the restore goes out again: {count('RestoreDBInstanceFromDBSnapshot') - restores}")
    testlib.control(faults, "DELETE", "rules")
    sent(dm)  # its alerts (action-failed, in error, recovered) are not this test's
    dm.stop()

    # ---- a missing line across a restart whose first read of it fails ----
    dm = daemon("cache: {snapshot_retention: 1}\nresources: {cache_replication_group: gone}\n")
    cycle(dm)
    check(row(dm)["state"] == "missing", f"a declared cache group that does not exist: "
          f"{row(dm)['state']}")
    got = sent(dm)
    check([(x["what"], x["observed"]) for x in got] == [("degraded", "missing")],
          f"one alert: missing: {[(x['what'], x['observed']) for x in got]}")
    dm.stop()
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "elasticache", "action": "DescribeReplicationGroups", "fault": "throttle",
         "status": 400, "code": "AccessDenied", "message": "not now"}]})
    dm.start()
    cycle(dm)
    r = row(dm)
    check(r["state"] == "missing" and r["backup"]["cache"] == "unknown",
          f"not read since the restart: it stands as recorded: {r['state']} "
          f"{r['backup']['cache']}")
    check(sent(dm) == [], "no recovered alert for want of a read")
    testlib.control(faults, "DELETE", "rules")
    cycle(dm)
    check(row(dm)["state"] == "missing" and sent(dm) == [] and
          len(events(dm, "service.missing")) == 1, "read again, still missing: nothing new")
    dm.stop()

finish()
