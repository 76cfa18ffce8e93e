#!/usr/bin/env python3
"""AWS refusing bsupd's own alarm (PutMetricAlarm answered AccessDenied) is no error of the
service (docs/metrics.md, "Alarms"): the service keeps its real state (ok), the refusal is a
finding of the alarm in status and plan (bsupctl plan exits 1: an operator must act), one
alarm-refused alert goes (no degraded page), the next cycle does not send the alarm again, and
once the drop-in changes what is wanted (its topic) the alarm is put at once; one alarm-ok goes
when the last refused alarm is accepted. A
transient failure (503) is no error either: it is sent again the next cycle."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

PUT = ("monitoring", "PutMetricAlarm")

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 1)
    svc = services[0]
    env = testlib.read_env(d)
    faults = env["BSUP_FAULTS_URL"]
    sns, sqs, cw = R.moto(d, "sns"), R.moto(d, "sqs"), R.moto(d, "cloudwatch")
    # The service is otherwise as declared, so that what plan and status say is the alarms'.
    R.moto(d, "ssm").put_parameter(Name=f"/{svc['name']}/db", Value="pw",
                                            Type="SecureString")
    R.moto(d, "rds").modify_db_instance(
        DBInstanceIdentifier=f"{svc['name']}-{svc['env']}", DeletionProtection=True,
        ApplyImmediately=True)
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    fixed = sns.create_topic(Name="bsup-alarms")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for t in (topic, fixed):  # the service's alerts go to its own topic once it names one
        sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=qarn)

    settings = (f"mode: enforce\ninterval: 1d\ncooldown: 0s\nmetrics:\n  interval: 1h\n"
                f"alerts:\n  sns_topic_arn: {topic}\n  reminder: 0s\n  recovery_hold: 0s\n")
    dm = R.daemon(d, services, net, settings=settings)
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "monitoring", "action": "PutMetricAlarm", "fault": "throttle", "status": 400,
         "code": "AccessDenied",
         "message": "User is not authorized to perform cloudwatch:PutMetricAlarm"}]})
    dm.start()
    got = []

    def received():
        r = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for m in r.get("Messages", []):
            got.append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
        return got

    def row():
        return dm.ctl_json("status", svc["name"], expect=None)["services"][0]

    # ---- refused: the service stays ok; the refusal is the alarm's finding ----
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    r = row()
    check(r.get("state") == "ok", f"a refused alarm leaves the service ok: {r.get('state')} "
          f"{r.get('error')}")
    puts = R.counts(d, *PUT)
    check(puts >= 1, f"the alarms were put and refused: {puts}")
    plan = dm.ctl_json("plan", svc["name"], expect=1)["services"][0]["actions"]
    refused = [a for a in plan if a["action"] == "finding" and a.get("owned") and
               a["changes"][0]["field"] == "PutMetricAlarm"]
    check(len(refused) == puts and all(
        a["changes"][0]["observed"].startswith("refused: AccessDenied") for a in refused),
        f"each refused alarm is a finding, plan exits 1: {plan}")
    p = dm.ctl("plan", svc["name"], expect=1)
    check("AccessDenied" in p.stdout, f"plan says why: {p.stdout}")
    p = dm.ctl("status", svc["name"], expect=0)
    check(f"Alarms: {puts} of bsupd's refused by AWS ('bsupctl plan {svc['name']}' says why)"
          in p.stdout, f"status of the service says its alarms are refused: {p.stdout}")
    R.bsuptest.poll(lambda: any(m["what"] == "alarm-refused" for m in received()) or None,
                    lambda: f"an alarm-refused alert: {got}", timeout_s=30)

    # ---- the next cycle: nothing is sent again, no second page ----
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    check(R.counts(d, *PUT) == puts, f"not put again before the delay: {R.counts(d, *PUT)}")
    check(row().get("state") == "ok", "still ok")

    # ---- the drop-in changes what is wanted (another topic): put at once; the errors alarm is
    # still refused: the others' findings clear, the condition stays open (no alarm-ok) ----
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "monitoring", "action": "PutMetricAlarm", "fault": "throttle", "status": 400,
         "code": "AccessDenied", "message": "not authorized", "request_contains": "-errors"}]})
    name = [n for n in os.listdir(dm.conf)][0]
    with open(os.path.join(dm.conf, name)) as f:
        text = f.read()
    dm.write(name, text + f"alerts: {{sns_topic_arn: '{fixed}'}}\n")
    dm.ctl("reload", expect=0)
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    have = {a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix="bsup-")["MetricAlarms"]}
    check(len(have) == puts - 1 and not any(n.endswith("-errors") for n in have),
          f"put at once, but the errors alarm: {have}")
    kinds = [e["kind"] for e in dm.ctl_json("events", "--service", svc["name"])["events"]]
    check(kinds.count("finding.cleared") == puts - 1 and "alarm.ok" not in kinds,
          f"the condition closes with the last refused alarm, not before: {kinds}")
    check(row().get("state") == "ok", "still ok")

    # ---- fixed, and the drop-in changes again: every alarm put; one alarm-ok ----
    testlib.control(faults, "DELETE", "rules")
    dm.write(name, text + f"alerts: {{sns_topic_arn: '{topic}'}}\n")
    dm.ctl("reload", expect=0)
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    have = cw.describe_alarms(AlarmNamePrefix="bsup-")["MetricAlarms"]
    check(len(have) == puts and all(a["AlarmActions"] == [topic] for a in have),
          f"the alarms are put once the drop-in changed: {[a['AlarmName'] for a in have]}")
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    check(row().get("state") == "ok", "ok")
    dm.ctl("plan", svc["name"], expect=0)
    R.bsuptest.poll(lambda: any(m["what"] == "alarm-ok" for m in received()) or None,
                    lambda: f"an alarm-ok alert: {got}", timeout_s=30)
    whats = sorted(m["what"] for m in got)
    check(whats == ["alarm-ok", "alarm-refused"], f"one page each way, no degraded: {whats}")

    # ---- a transient failure (503 on every attempt): no error, sent again the next cycle ----
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "monitoring", "action": "PutMetricAlarm", "fault": "status", "status": 503}]})
    cw.delete_alarms(AlarmNames=[have[0]["AlarmName"]])
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    r = row()
    check(r.get("state") == "ok" and not r.get("error"), f"a 503 is no error: {r}")
    kinds = [e["kind"] for e in dm.ctl_json("events", "--service", svc["name"])["events"]]
    check(kinds.count("alarms.failed") == 1 and "action.failed" not in kinds,
          f"an alarms.failed event, not action.failed (a page): {kinds}")
    plan = dm.ctl_json("plan", svc["name"], expect=None)["services"][0]["actions"]
    check([a["action"] for a in plan] == ["update"], f"a transient failure is no finding: {plan}")
    testlib.control(faults, "DELETE", "rules")
    dm.ctl("reconcile", svc["name"], "--wait", expect=None)
    check(len(cw.describe_alarms(AlarmNamePrefix="bsup-")["MetricAlarms"]) == puts,
          "put the next cycle")
    dm.stop()

finish()
