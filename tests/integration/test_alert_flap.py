#!/usr/bin/env python3
"""A service that flaps is one incident, not a page per transition: it turns error (paged),
recovers, turns error again within the hold (two intervals) and recovers for good — one
`degraded` and one `recovered` reach SNS, the recovery only once it has lasted the hold, and
that across a restart; status shows the recovery held meanwhile, and the events keep every
transition (docs/metrics.md, "Alerts")."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 1)
    svc = services[0]
    env = testlib.read_env(d)
    sns, sqs = R.moto(d, "sns"), R.moto(d, "sqs")
    faults = env["BSUP_FAULTS_URL"]
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    got = []

    def receive():
        r = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        got.extend(json.loads(json.loads(m["Body"])["Message"]) for m in r.get("Messages", []))
        return [m["what"] for m in got]

    # interval 10s: a recovery is held 20s. metrics.interval 1h: no publisher round sends it.
    settings = (f"interval: 10s\nmetrics:\n  interval: 1h\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n")
    dm = R.daemon(d, services, net, settings=settings)
    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)

    def state(want):
        testlib.control(faults, "PUT", "rules", {"rules": [
            {"fault": "status", "status": 500, "service": "autoscaling"}] if want == "error" else []})
        dm.ctl("reconcile", "--wait", expect=None)
        st = dm.ctl_json("status", expect=None)["services"][0]["state"]
        check(st == want, f"{want}: {st}")

    state("error")
    R.bsuptest.poll(lambda: receive() == ["degraded"] or None,
                    lambda: f"the degraded page: {got}", timeout_s=20)
    t0 = time.monotonic()
    state("ok")
    m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    check(m.get("alerts_held") == 1 and m["alerts_waiting"] == 0, f"the recovery held: {m}")
    out = dm.ctl("status", expect=None).stdout
    check("Alerts: 0 waiting, 1 held, 1 sent" in out, "status:\n" + out)
    state("error")  # within the hold: the incident goes on
    check(time.monotonic() - t0 < 20, "flapped back within the hold")
    m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    check(m.get("alerts_held") == 0 and m["alerts_waiting"] == 0, f"nothing held or waiting: {m}")
    state("ok")
    t1 = time.monotonic()
    dm.stop()
    dm.start()  # the held recovery outlives a restart
    R.bsuptest.poll(lambda: len(receive()) >= 2 or None,
                    lambda: f"the recovery after the hold: {got}", timeout_s=60)
    check(time.monotonic() - t1 >= 19, f"held about 20s: {time.monotonic() - t1:.1f}s")
    time.sleep(1)  # a second degraded or recovered would have been sent with it
    check(receive() == ["degraded", "recovered"], f"one page each way: {got}")
    # Both say when the incident began (the reminders too: tests/unit/test_alerts.c).
    check(all(m.get("opened") == got[0]["when"] for m in got), f"opened: {got}")
    kinds = [e["kind"] for e in dm.ctl_json("events")["events"]
             if e["kind"] in ("service.error", "service.state")]
    check(kinds[-4:] == ["service.error", "service.state", "service.error", "service.state"],
          f"every transition an event: {kinds}")
    m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    check(m.get("alerts_held") == 0 and m["alerts_waiting"] == 0, f"nothing left: {m}")
    dm.stop()

finish()
