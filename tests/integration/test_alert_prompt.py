#!/usr/bin/env python3
"""An alert goes when it is queued, not at the publisher's next round: with metrics.interval
at its longest (1h, to send metrics seldom), a service turning error is paged within seconds.
One over the rate limit goes when the next token is there (per_minute), not an hour later
(docs/metrics.md, "Alerts")."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 2)
    env = testlib.read_env(d)
    sns, sqs = R.moto(d, "sns"), R.moto(d, "sqs")
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)

    settings = (f"interval: 1d\nmetrics:\n  interval: 1h\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n  burst: 1\n  per_minute: 60\n")
    dm = R.daemon(d, services, net, settings=settings)
    dm.start()
    testlib.control(env["BSUP_FAULTS_URL"], "PUT", "rules", {"rules": [
        {"fault": "status", "status": 500, "service": "autoscaling"}]})
    dm.ctl("reconcile", "--wait", expect=None)
    got = []

    def delivered():
        r = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        got.extend(json.loads(json.loads(m["Body"])["Message"]) for m in r.get("Messages", []))
        return len(got) >= 2 or None
    R.bsuptest.poll(delivered, lambda: "both alerts delivered before the next round (1h): %s %s" %
                    (got, dm.ctl_json("status", expect=None)["daemon"]["metrics"]), timeout_s=20)
    whats = sorted((m["service"], m["what"]) for m in got)
    check(whats == sorted((s["name"], "degraded") for s in services), f"each once: {whats}")
    check(R.counts(d, "monitoring", "PutMetricData") == 0, "metrics still wait for the round")
    dm.stop()

finish()
