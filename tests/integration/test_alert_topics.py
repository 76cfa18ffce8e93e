#!/usr/bin/env python3
"""An alert whose SNS topic fails holds up only the alerts of that topic: service a's drop-in
names a topic that does not exist (a typo, or one deleted), its alert fails and waits; service
b's alert, queued after it and bound for the daemon's topic, is delivered all the same, and
status counts a's alert as the one waiting (docs/metrics.md, "Alerts"). The subject of b's
alert says "in error", not "degraded": AWS failing is not the service serving below its
floor. A FIFO topic gets each alert with its service as the message group and a deduplication
id."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 2)
    a, b = services
    ga, gb = f"{a['name']}-{a['env']}", f"{b['name']}-{b['env']}"
    env = testlib.read_env(d)
    sns, sqs = R.moto(d, "sns"), R.moto(d, "sqs")
    faults = env["BSUP_FAULTS_URL"]
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    gone = topic.rsplit(":", 1)[0] + ":no-such-topic"
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)

    settings = (f"interval: 1d\nmetrics:\n  interval: 1s\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n")
    dm = R.daemon(d, services, net, settings=settings,
                  extra={a["name"]: f"alerts:\n  sns_topic_arn: {gone}\n"})
    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)

    # a turns error first (its alert is the older one), then b.
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "status", "status": 500, "service": "autoscaling", "request_contains": ga}]})
    dm.ctl("reconcile", a["name"], "--wait", expect=None)
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "status", "status": 500, "service": "autoscaling"}]})
    dm.ctl("reconcile", b["name"], "--wait", expect=None)
    states = {s["service"]: s["state"] for s in dm.ctl_json("status", expect=None)["services"]}
    check(states == {a["name"]: "error", b["name"]: "error"}, f"both in error: {states}")

    got = []

    def delivered():
        r = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for msg in r.get("Messages", []):
            body = json.loads(msg["Body"])
            got.append(dict(json.loads(body["Message"]), _subject=body.get("Subject")))
        return got or None
    R.bsuptest.poll(delivered, lambda: "b's alert delivered past a's failing one:\n" + "\n".join(
        l for l in dm.logtext().splitlines() if "alert" in l)[-2000:], timeout_s=30)
    whats = [(m["service"], m["what"]) for m in got]
    check(whats == [(b["name"], "degraded")], f"b's alert, and only it: {whats}")
    # The subject says what happened: AWS answering 500 is "in error", not "degraded".
    check(got and got[0]["_subject"] == f"bsup: {gb} in error" and got[0]["observed"] == "error",
          f"subject: {got[:1]}")
    m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    check(m["alerts_waiting"] == 1 and m["alerts_sent"] == 1 and "NotFound" in m["last_error"],
          f"a's alert waits: {m}")
    # Which alert is held back and why, apart from the last error (which a metrics failure
    # would overwrite).
    fa = m["failing_alert"]
    check(fa and fa["service"] == a["name"] and fa["what"] == "degraded" and fa["attempts"] >= 1
          and "NotFound" in fa["error"], f"failing_alert: {m}")
    out = dm.ctl("status", expect=None).stdout
    check(f"\n  failing: {a['name']} degraded, " in out and "NotFound" in out, "status:\n" + out)
    fails = [e for e in dm.ctl_json("events")["events"] if e["kind"] == "alert.failed"]
    check(len(fails) == 1 and fails[0]["service"] == a["name"], f"a's alert.failed: {fails}")

    # a's drop-in now names a FIFO topic: its waiting alert goes there, with the group and
    # deduplication id a FIFO topic refuses a message without (MissingParameter).
    fifo = sns.create_topic(Name="bsup-alerts.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    fq = sqs.create_queue(QueueName="bsup-alerts.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    farn = sqs.get_queue_attributes(QueueUrl=fq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=fifo, Protocol="sqs", Endpoint=farn)
    dm.write(f"0000-{a['name']}.yaml", R.dropin(a, net, f"alerts:\n  sns_topic_arn: {fifo}\n"))
    dm.ctl("reload", expect=0)

    def fifo_delivered():
        r = sqs.receive_message(QueueUrl=fq, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                AttributeNames=["All"])
        return r.get("Messages") or None
    msgs = R.bsuptest.poll(fifo_delivered, lambda: "a's alert delivered to the FIFO topic:\n" +
                           "\n".join(l for l in dm.logtext().splitlines() if "alert" in l)[-2000:],
                           timeout_s=30)
    body = json.loads(json.loads(msgs[0]["Body"])["Message"])
    attrs = msgs[0]["Attributes"]
    check(len(msgs) == 1 and (body["service"], body["what"]) == (a["name"], "degraded"),
          f"a's alert through the FIFO topic: {body}")
    check(attrs.get("MessageGroupId") == a["name"], f"grouped by service: {attrs}")
    check(attrs.get("MessageDeduplicationId", "").startswith(f"bsupd-{body['alert_id']}-"),
          f"deduplicated by owner and alert id: {attrs}")
    m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    check(m["alerts_waiting"] == 0 and m["alerts_sent"] == 2, f"nothing waits: {m}")
    dm.stop()

finish()
