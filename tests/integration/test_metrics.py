#!/usr/bin/env python3
"""Metrics and alerts against the local AWS (issue 15): after a cycle the catalogue's metrics
are in CloudWatch with the Service/Environment dimensions; a service that turns degraded
(here: error, its group's observation throttled by the fault proxy — the health domain is not
in this tree) produces exactly one SNS message in the subscribed SQS queue and one "recovered"
when it recovers. Outage: every CloudWatch and SNS call fails for a while, bsupd is stopped
(SIGTERM) and started again in the middle, then AWS comes back: every datum measured during
the outage arrives exactly once with its original timestamp, and every alert exactly once."""
import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402
import boto3  # noqa: E402

NS = "BSUP"


def clients(d):
    env = testlib.read_env(d)
    kw = dict(endpoint_url=env["BSUP_MOTO_URL"], region_name=env["AWS_REGION"],
              aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return boto3.client("cloudwatch", **kw), boto3.client("sns", **kw), boto3.client("sqs", **kw)


def drain(sqs, url):
    """Every message the queue holds now, as the alert bodies SNS delivered."""
    out = []
    while True:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                MessageAttributeNames=["All"])
        msgs = r.get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            env = json.loads(m["Body"])
            body = json.loads(env["Message"])
            body["_subject"] = env.get("Subject")
            body["_attr"] = env.get("MessageAttributes", {}).get("bsup_alert_id", {}).get("Value")
            out.append(body)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def sample_count(cw, name, dims, start, end):
    r = cw.get_metric_statistics(Namespace=NS, MetricName=name, Dimensions=dims, StartTime=start,
                                 EndTime=end, Period=60, Statistics=["SampleCount"])
    return sum(int(p["SampleCount"]) for p in r["Datapoints"]), r["Datapoints"]


def recorded_batches(dm):
    with open(dm.log, errors="replace") as f:
        return sum(1 for l in f if re.search(r"cycle done services=[1-9]", l))


with testlib.environment("--faults") as d:
    services, net = R.seed(d, 2)
    a, b = services
    ga = f"{a['name']}-{a['env']}"
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    cw, sns, sqs = clients(d)
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)

    settings = (f"interval: 1d\nmetrics:\n  interval: 1s\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n")
    dm = R.daemon(d, services, net, settings=settings)
    dm.start()
    dm.ctl("reconcile", "--wait", expect=0)

    def published():
        m = dm.ctl_json("status")["daemon"]["metrics"]
        return m["outbox_depth"] == 0 and m["last_publish_at"] and m["alerts_waiting"] == 0
    R.bsuptest.poll(published, lambda: f"outbox empty: {dm.ctl_json('status')['daemon']['metrics']}")

    # The catalogue's metrics are listed, per service with Service and Environment.
    names = {(m["MetricName"], tuple(sorted((x["Name"], x["Value"]) for x in m["Dimensions"])))
             for m in cw.list_metrics(Namespace=NS)["Metrics"]}
    for metric in ("InServiceInstances", "DesiredCapacity", "DriftCount", "ActionsApplied",
                   "ActionsFailed", "ReconcileErrors", "ReconcileDuration"):
        for s in (a, b):
            key = (metric, (("Environment", s["env"]), ("Service", s["name"])))
            check(key in names, f"{metric} of {s['name']} listed")
    for metric in ("CycleDuration", "AwsRequests", "OutboxDepth", "OutboxDropped"):
        check((metric, ()) in names, f"daemon-wide {metric} listed")
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    r = cw.get_metric_data(MetricDataQueries=[{
        "Id": "des", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "DesiredCapacity",
                                               "Dimensions": [{"Name": "Service", "Value": b["name"]},
                                                              {"Name": "Environment", "Value": b["env"]}]},
                                    "Period": 60, "Stat": "Maximum"}}], StartTime=t0, EndTime=end)
    vals = r["MetricDataResults"][0]["Values"]
    check(vals and max(vals) == b["min"], f"DesiredCapacity of {b['name']} via GetMetricData: {vals}")
    check(drain(sqs, qurl) == [], "no alert while everything is ok")

    # Degraded (error) and recovered: one message each.
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "throttle", "service": "autoscaling", "request_contains": ga}]})
    dm.ctl("reconcile", a["name"], "--wait", expect=1)
    testlib.control(faults, "DELETE", "rules")
    dm.ctl("reconcile", "--wait", expect=0)   # another error-free cycle does not re-alert
    dm.ctl("reconcile", a["name"], "--wait", expect=0)
    R.bsuptest.poll(published, lambda: "alerts published: %s\n%s" % (
        dm.ctl_json("status", expect=None)["daemon"]["metrics"],
        "\n".join(l for l in dm.logtext().splitlines() if "alert" in l or "rror" in l)[-3000:]),
        timeout_s=30)
    time.sleep(1)
    got = drain(sqs, qurl)
    whats = [(m["service"], m["what"]) for m in got]
    check(whats == [(a["name"], "degraded"), (a["name"], "recovered")],
          f"exactly one degraded and one recovered message: {whats}")
    if got:
        m = got[0]
        check(m["environment"] == a["env"] and m["observed"] == "error" and m["desired"] == "ok"
              and m["event_id"] > 0 and m["_attr"] == str(m["alert_id"]) and m["when"].endswith("Z"),
              f"body and attribute: {m}")
        check(m["_subject"].startswith(f"bsup: {ga} degraded"), f"subject: {m['_subject']}")
    ev = dm.ctl_json("events", "--service", a["name"])["events"]
    check(sum(e["kind"] == "alert.sent" for e in ev) == 2, "alert.sent events")

    # Outage: CloudWatch and SNS fail every call; a stop and a start in the middle.
    time.sleep(1)
    base = recorded_batches(dm)
    t_out = datetime.datetime.now(datetime.timezone.utc)
    _, before_pts = sample_count(cw, "CycleDuration", [], t0, end + datetime.timedelta(hours=1))
    before = sum(int(p["SampleCount"]) for p in before_pts)
    check(before == base, f"CycleDuration datums so far = recorded batches: {before} vs {base}")
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "status", "status": 503, "service": "monitoring"},
        {"fault": "status", "status": 503, "service": "sns"},
        {"fault": "throttle", "service": "autoscaling", "request_contains": ga}]})
    dm.ctl("reconcile", "--wait", expect=1)         # a turns degraded: its alert waits
    dm.ctl("reconcile", b["name"], "--wait", expect=None)
    time.sleep(2)
    m = dm.ctl_json("status", expect=1)["daemon"]["metrics"]
    check(m["outbox_depth"] > 0 and m["alerts_waiting"] == 1 and m["oldest_age_s"] is not None,
          f"datums and the alert wait during the outage: {m}")
    check("waiting" in dm.ctl("status", expect=1).stdout, "status shows the outbox")
    rc, _ = dm.stop()
    check(rc == 0, "stopped with SIGTERM during the outage")
    dm.start()
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "status", "status": 503, "service": "monitoring"},
        {"fault": "status", "status": 503, "service": "sns"}]})
    dm.ctl("reconcile", "--wait", expect=0)        # a recovers during the outage
    time.sleep(2)
    m = dm.ctl_json("status")["daemon"]["metrics"]
    check(m["alerts_waiting"] == 2 and m["outbox_depth"] > 0, f"still waiting after restart: {m}")
    ev = dm.ctl_json("events")["events"]
    check(any(e["kind"] == "alert.failed" for e in ev), "alert.failed recorded")
    t_back = datetime.datetime.now(datetime.timezone.utc)
    testlib.control(faults, "DELETE", "rules")
    R.bsuptest.poll(published, lambda: f"outbox drained: {dm.ctl_json('status')['daemon']['metrics']}")
    time.sleep(1)
    total = recorded_batches(dm)
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    after, pts = sample_count(cw, "CycleDuration", [], t0, end)
    print(f"FIGURE: CycleDuration datums in CloudWatch {after}, recorded batches {total} "
          f"({total - base} measured during the outage)")
    check(after == total, f"every datum arrived exactly once: {after} in CloudWatch, {total} measured")
    # Original timestamps: the outage's datums sit in the outage's minutes, not the publish's.
    out_pts = [p for p in pts if t_out.replace(second=0, microsecond=0) <= p["Timestamp"] < t_back]
    check(out_pts, f"datapoints at the outage's times: {[p['Timestamp'] for p in pts]}")
    got = drain(sqs, qurl)
    whats = [(m["service"], m["what"]) for m in got]
    check(whats == [(a["name"], "degraded"), (a["name"], "recovered")],
          f"every alert of the outage exactly once, in order: {whats}")
    ids = [m["alert_id"] for m in got]
    check(len(set(ids)) == len(ids), "distinct alert ids")
    dm.stop()
    check(dm.integrity() == "ok", "database consistent")

finish()
