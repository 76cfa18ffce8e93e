#!/usr/bin/env python3
"""Metrics and alerts against the local AWS (issue 15): after a cycle the catalogue's metrics
are in CloudWatch with the Service/Environment dimensions; a service that turns degraded for
real — one of its targets deregistered from its target group in moto, so the health domain
reads fewer healthy targets than min_healthy — produces exactly one SNS message in the
subscribed SQS queue, none more while it stays degraded, and one "recovered" when the target
is registered again. Outage: every CloudWatch and SNS call fails for a while, bsupd is stopped
(SIGTERM) and started again in the middle, then AWS comes back: every datum measured during
the outage arrives exactly once with its original timestamp (large PutMetricData bodies go
gzip-compressed, and the proxy's log shows them accepted), and every alert exactly once. A datum
CloudWatch refuses for its content is found by halving the request, dropped with an event, and
holds nothing else back."""
import datetime
import json
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

NS = "BSUP"


def clients(d):
    return [R.moto(d, x) for x in ("cloudwatch", "sns", "sqs", "elbv2")]


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
    cw, sns, sqs, elb = clients(d)
    seeded = json.load(open(os.path.join(d, "seeded.json")))
    tg = seeded["services"][ga]["target_group_arn"]
    targets = [t["Target"] for t in elb.describe_target_health(TargetGroupArn=tg)
               ["TargetHealthDescriptions"]]
    check(len(targets) >= 1 and len(targets) == a["min"],
          f"{ga}: its group's instances are its targets: {targets}")
    topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-alerts")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    t0 = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)

    settings = (f"interval: 1d\nmetrics:\n  interval: 1s\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n  recovery_hold: 0s\n")  # recoveries at once
    # Target health is read every sweep while a service looks fine: the shortest, so the
    # deregistration below is seen within 10 s.
    sweep = {a["name"]: "health_check: {path: /health, healthy_threshold: 3, "
                        "unhealthy_threshold: 3, sweep: 10s}\n"}
    dm = R.daemon(d, services, net, settings=settings, extra=sweep)
    dm.start()
    dm.ctl("reconcile", "--wait", expect=0)

    def published():
        m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
        return m["outbox_depth"] == 0 and m["last_publish_at"] and m["alerts_waiting"] == 0
    R.bsuptest.poll(published, lambda: f"outbox empty: {dm.ctl_json('status')['daemon']['metrics']}")

    # The catalogue's metrics are listed, per service with Service and Environment.
    names = {(m["MetricName"], tuple(sorted((x["Name"], x["Value"]) for x in m["Dimensions"])))
             for m in cw.list_metrics(Namespace=NS)["Metrics"]}
    for metric in ("InServiceInstances", "DesiredCapacity", "HealthyHostCount",
                   "UnhealthyHostCount", "DriftCount", "ActionsApplied", "ActionsFailed",
                   "ReconcileErrors", "ReconcileDuration"):
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

    r = cw.get_metric_data(MetricDataQueries=[{
        "Id": "h", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "HealthyHostCount",
                                             "Dimensions": [{"Name": "Service", "Value": a["name"]},
                                                            {"Name": "Environment", "Value": a["env"]}]},
                                  "Period": 60, "Stat": "Minimum"}}], StartTime=t0, EndTime=end)
    vals = r["MetricDataResults"][0]["Values"]
    check(vals and min(vals) == len(targets), f"HealthyHostCount of {a['name']}: {vals}")

    # Degraded for real: one target leaves the target group (in moto), so the health domain
    # reads fewer healthy targets than min_healthy (min_size). Each loop turn is a whole cycle
    # (reconcile --wait); the target health is read again within the 10 s sweep.
    def state_after_cycle(want):
        def turn():
            dm.ctl("reconcile", a["name"], "--wait", expect=None)
            st = dm.ctl_json("status", a["name"], expect=None)["services"][0]
            return st if st["state"] == want else None
        return R.bsuptest.poll(turn, lambda: f"{a['name']} {want}: "
                               f"{dm.ctl_json('status', a['name'], expect=None)['services'][0]}",
                               timeout_s=60, every_s=0.5)

    def alerts_published():
        R.bsuptest.poll(published, lambda: "alerts published: %s\n%s" % (
            dm.ctl_json("status", expect=None)["daemon"]["metrics"],
            "\n".join(l for l in dm.logtext().splitlines() if "alert" in l or "rror" in l)[-3000:]),
            timeout_s=30)
        return drain(sqs, qurl)  # moto delivers to the queue inside Publish: all there now

    elb.deregister_targets(TargetGroupArn=tg, Targets=[targets[0]])
    st = state_after_cycle("degraded")
    check(st["health"]["healthy"] == len(targets) - 1, f"one healthy target fewer: {st['health']}")
    got = alerts_published()
    whats = [(m["service"], m["what"]) for m in got]
    check(whats == [(a["name"], "degraded")], f"exactly one degraded message: {whats}")
    if got:
        m = got[0]
        check(m["environment"] == a["env"] and m["observed"] == "degraded" and m["desired"] == "ok"
              and m["event_id"] > 0 and m["_attr"] == str(m["alert_id"]) and m["when"].endswith("Z")
              and "HealthyTargets" in m["message"], f"body and attribute: {m}")
        check(m["_subject"].startswith(f"bsup: {ga} degraded"), f"subject: {m['_subject']}")
    dm.ctl("reconcile", "--wait", expect=None)   # still degraded: no second message
    check(dm.ctl_json("status", a["name"], expect=None)["services"][0]["state"] == "degraded",
          "still degraded")
    check(alerts_published() == [], "no message while it stays degraded")

    elb.register_targets(TargetGroupArn=tg, Targets=[targets[0]])
    state_after_cycle("ok")
    dm.ctl("reconcile", "--wait", expect=0)       # another ok cycle does not re-alert
    got = alerts_published()
    whats = [(m["service"], m["what"]) for m in got]
    check(whats == [(a["name"], "recovered")], f"exactly one recovered message: {whats}")
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

    def outage_seen(alerts):
        m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
        return m if (m["outbox_depth"] > 0 and m["alerts_waiting"] == alerts and
                     m["oldest_age_s"] is not None and m["last_error"]) else None
    R.bsuptest.poll(lambda: outage_seen(1), lambda: f"datums and the alert wait during the "
                    f"outage: {dm.ctl_json('status', expect=None)['daemon']['metrics']}",
                    timeout_s=30)
    check("waiting" in dm.ctl("status", expect=1).stdout, "status shows the outbox")
    rc, _ = dm.stop()
    check(rc == 0, "stopped with SIGTERM during the outage")
    dm.start()
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "status", "status": 503, "service": "monitoring"},
        {"fault": "status", "status": 503, "service": "sns"}]})
    dm.ctl("reconcile", "--wait", expect=0)        # a recovers during the outage
    R.bsuptest.poll(lambda: outage_seen(2), lambda: f"still waiting after restart: "
                    f"{dm.ctl_json('status', expect=None)['daemon']['metrics']}", timeout_s=30)
    ev = dm.ctl_json("events")["events"]
    check(any(e["kind"] == "alert.failed" for e in ev), "alert.failed recorded")
    t_back = datetime.datetime.now(datetime.timezone.utc)
    testlib.control(faults, "DELETE", "rules")
    R.bsuptest.poll(published, lambda: f"outbox drained: {dm.ctl_json('status')['daemon']['metrics']}")
    # The outage's error stays, dated: older than the publish that drained the outbox.
    m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    check(m["last_error"] and 0 < m["last_error_at"] <= m["last_publish_at"],
          f"last_error dated before the recovery: {m}")
    text = dm.ctl("status", expect=None).stdout
    check(re.search(r"\n  last error \d+[sm] ago: ", text), f"its age in status:\n{text}")
    time.sleep(1)
    total = recorded_batches(dm)
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    after, pts = sample_count(cw, "CycleDuration", [], t0, end)
    print(f"FIGURE: CycleDuration datums in CloudWatch {after}, recorded batches {total} "
          f"({total - base} measured during the outage)")
    check(after == total, f"every datum arrived exactly once: {after} in CloudWatch, {total} measured")
    # Original timestamps: the datums measured during the outage carry the outage's times, not
    # the publish's (CloudWatch selects datums by their own Timestamp). moto cuts StartTime and
    # EndTime to whole seconds: the end is the second after t_back (nothing is measured after
    # it); the start needs no margin (the last datum before the outage is a second older).
    n_out, _ = sample_count(cw, "CycleDuration", [], t_out, t_back + datetime.timedelta(seconds=1))
    check(n_out == total - base, f"datums timestamped within the outage: {n_out}, measured "
          f"during it {total - base}")
    got = drain(sqs, qurl)
    whats = [(m["service"], m["what"]) for m in got]
    check(whats == [(a["name"], "degraded"), (a["name"], "recovered")],
          f"every alert of the outage exactly once, in order: {whats}")
    ids = [m["alert_id"] for m in got]
    check(len(set(ids)) == len(ids), "distinct alert ids")
    # The outage's backlog went in large requests: gzip-compressed (over 10 KiB of form body),
    # decoded and accepted (the exact count above is CloudWatch's own).
    puts = [e for e in testlib.control(faults, "GET", "log")["entries"]
            if e["service"] == "monitoring" and e["action"] == "PutMetricData"]
    gz = [e for e in puts if e.get("encoding") == "gzip" and e["status"] == 200]
    print(f"FIGURE: PutMetricData calls {len(puts)}, gzip-compressed and accepted {len(gz)}: " +
          ", ".join(f"{e['plain_bytes']} -> {e['bytes_in']} bytes" for e in gz[:3]))
    check(gz and all(e["plain_bytes"] >= 10240 for e in gz),
          f"large PutMetricData bodies compressed and accepted: {puts[-3:]}")
    check(all(e.get("encoding") == "gzip" for e in puts if e.get("bytes_in", 0) > 10240 + 4096),
          "no large body sent uncompressed")

    # A datum CloudWatch refuses for what it is (InvalidParameterValue, HTTP 400) would hold
    # back every datum behind it for the outbox's 13 days: bsupd sends the request again in
    # halves until the refused datum is alone, drops it with an event, and the rest go once.
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "throttle", "service": "monitoring", "action": "PutMetricData",
         "request_contains": "PoisonDatum", "code": "InvalidParameterValue", "status": 400,
         "message": "The value for parameter MetricData.member.1.Value is invalid."}]})
    since = testlib.control(faults, "GET", "log")["next"]
    t_probe = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    now_ms = int(time.time() * 1000)
    rows = [("RefusalProbe", now_ms + i, float(i)) for i in range(40)]
    rows.insert(25, ("PoisonDatum", now_ms + 25, 1.0))
    with sqlite3.connect(os.path.join(dm.state, "bsup.db"), timeout=30) as con:
        con.executemany("INSERT INTO metric_outbox(name, service, environment, at_ms, value, unit)"
                        " VALUES (?, NULL, NULL, ?, ?, 'Count')", rows)
    con.close()

    def poison_dropped():
        ev = [e for e in dm.ctl_json("events", expect=None)["events"]
              if e["kind"] == "metrics.dropped" and "PoisonDatum" in e["message"]]
        return ev if ev and published() else None
    ev = R.bsuptest.poll(poison_dropped, lambda: "the refused datum dropped, the rest sent: %s\n%s"
                         % (dm.ctl_json("status", expect=None)["daemon"]["metrics"],
                            "\n".join(l for l in dm.logtext().splitlines()
                                      if "metric" in l)[-2000:]), timeout_s=30)
    check(len(ev) == 1 and "InvalidParameterValue" in ev[0]["message"],
          f"one metrics.dropped event naming the datum and AWS's refusal: {ev}")
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    n_probe, _ = sample_count(cw, "RefusalProbe", [], t_probe, end)
    check(n_probe == 40, f"every datum beside the refused one arrived once: {n_probe} of 40")
    check(sample_count(cw, "PoisonDatum", [], t_probe, end)[0] == 0, "the refused one did not")
    check(dm.ctl_json("status", expect=None)["daemon"]["metrics"]["dropped"] >= 1,
          "status counts it dropped")
    puts = [e for e in testlib.control(faults, "GET", f"log?since={since}")["entries"]
            if e["action"] == "PutMetricData"]
    refused = [e for e in puts if e["status"] == 400]
    print(f"FIGURE: one refused datum among {len(rows)} found in {len(puts)} PutMetricData "
          f"calls, {len(refused)} of them refused")
    check(len(refused) <= 12, f"found by halving, not one datum at a time: {len(refused)} refused")
    testlib.control(faults, "DELETE", "rules")

    # A request refused for its content whose halves are both accepted (the refusal was the
    # request's, or its datum became acceptable meanwhile) leaves nothing to drop: once the
    # outbox is empty, the requests go full again (they stayed halved for good).
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "throttle", "service": "monitoring", "action": "PutMetricData",
         "request_contains": "SplitProbe", "code": "InvalidParameterValue", "status": 400,
         "count": 1},
        {"fault": "rewrite", "service": "monitoring", "action": "PutMetricData",
         "request_contains": "FullAgain", "replace": [["never-in-an-answer", "never"]]}]})

    def outbox_rows(name):
        with sqlite3.connect(os.path.join(dm.state, "bsup.db"), timeout=30) as con:
            n = con.execute("SELECT count(*) FROM metric_outbox WHERE name = ?", (name,)).fetchone()
        con.close()
        return n[0]

    def insert_rows(name):
        now_ms = int(time.time() * 1000)
        with sqlite3.connect(os.path.join(dm.state, "bsup.db"), timeout=30) as con:
            con.executemany("INSERT INTO metric_outbox(name, service, environment, at_ms, value,"
                            " unit) VALUES (?, NULL, NULL, ?, ?, 'Count')",
                            [(name, now_ms + i, float(i)) for i in range(40)])
        con.close()

    since = testlib.control(faults, "GET", "log")["next"]
    insert_rows("SplitProbe")
    R.bsuptest.poll(lambda: outbox_rows("SplitProbe") == 0,
                    lambda: "the refused request's halves accepted", timeout_s=30)
    split = [e for e in testlib.control(faults, "GET", f"log?since={since}")["entries"]
             if e["action"] == "PutMetricData"]
    check(any(e["status"] == 400 for e in split), f"the whole request was refused: {split}")
    since = testlib.control(faults, "GET", "log")["next"]
    insert_rows("FullAgain")

    def full_sent():
        if outbox_rows("FullAgain"):
            return None
        puts = [e for e in testlib.control(faults, "GET", f"log?since={since}")["entries"]
                if e["action"] == "PutMetricData" and e.get("fault") == "rewrite"]
        return puts if all(e["status"] != "pending" for e in puts) else None
    full = R.bsuptest.poll(full_sent, lambda: "the next 40 datums sent", timeout_s=30)
    check(len(full) == 1 and full[0]["status"] == 200,
          f"then 40 datums go in one request, not in halves: {full}")
    testlib.control(faults, "DELETE", "rules")
    dm.stop()
    check(dm.integrity() == "ok", "database consistent")

finish()
