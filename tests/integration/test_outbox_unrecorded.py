#!/usr/bin/env python3
"""An alert SNS accepted but whose leaving the outbox the state database could not record
(failpoint store-alert-sent: the database refuses that write) is not sent again by the same
bsupd: it used to be read from the outbox again at once and published up to the rate limit's
burst of times. Likewise datums CloudWatch accepted whose delete failed (failpoint
store-metrics-delete) are not sent again every round. Needs a build with
-DBSUP_FAILPOINTS=ON (skipped otherwise)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

cache = os.path.join(os.environ.get("BSUP_BUILD_DIR", "build"), "CMakeCache.txt")
if "BSUP_FAILPOINTS:BOOL=ON" not in open(cache).read():
    R.bsuptest.skip("this build has no failpoints (BSUP_FAILPOINTS=OFF)")

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 1)
    a = services[0]
    env = testlib.read_env(d)
    sns, sqs = R.moto(d, "sns"), R.moto(d, "sqs")
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)

    settings = (f"interval: 1d\nmetrics:\n  interval: 1s\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n")
    dm = R.daemon(d, services, net, settings=settings)
    dm.env["BSUP_FAILPOINT_ERROR"] = "store-alert-sent,store-metrics-delete"
    dm.start()
    testlib.control(env["BSUP_FAULTS_URL"], "PUT", "rules", {"rules": [
        {"fault": "status", "status": 500, "service": "autoscaling"}]})
    dm.ctl("reconcile", "--wait", expect=None)   # error: one degraded alert

    # Three rounds (one a second) that could not record the alert nor delete the datums: time
    # enough to send them again.
    R.bsuptest.poll(lambda: all(dm.logtext().count("failpoint " + f) >= 3
                                for f in ("store-alert-sent", "store-metrics-delete")),
                    lambda: "rounds that could not record:\n" + dm.logtext()[-2000:],
                    timeout_s=30)
    got = []
    while True:
        r = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not r.get("Messages"):
            break
        for m in r["Messages"]:
            got.append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
    whats = [(m["service"], m["what"], m["alert_id"]) for m in got]
    check(len(whats) == 1 and whats[0][:2] == (a["name"], "degraded"),
          f"published once, not again while unrecorded: {whats}")
    puts = R.counts(d, "monitoring", "PutMetricData")
    check(puts == 1, f"datums CloudWatch took are not sent again while their delete fails: {puts} "
          "PutMetricData")
    dm.stop()

finish()
