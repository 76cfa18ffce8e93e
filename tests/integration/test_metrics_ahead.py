#!/usr/bin/env python3
"""A datum timestamped ahead of the clock (the clock was set back after it was measured):
CloudWatch refuses a PutMetricData that carries a timestamp more than two hours ahead
(InvalidParameterValue, the fault proxy plays it; moto does not check), so the whole request
fails, and with the datum at the head of the outbox every request would carry it for hours.
bsupd drops such a datum, counted and said like the other bounds (docs/metrics.md, "Bounds"),
and the outbox drains."""
import datetime
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 1)
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    dm = R.daemon(d, services, net, settings="interval: 1d\nmetrics:\n  interval: 1s\n")
    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)

    def metrics():
        return dm.ctl_json("status", expect=None)["daemon"]["metrics"]
    R.bsuptest.poll(lambda: metrics()["outbox_depth"] == 0 and metrics()["last_publish_at"],
                    lambda: f"first datums published: {metrics()}", timeout_s=30)
    dm.stop()

    # Measured "three hours from now": a clock that was ahead and has been set back.
    ahead_ms = (int(time.time()) + 3 * 3600) * 1000 + 123
    stamp = datetime.datetime.fromtimestamp(ahead_ms / 1000, datetime.timezone.utc)
    stamp = stamp.strftime("%Y-%m-%dT%H:%M:%S.123Z")
    db = sqlite3.connect(os.path.join(dm.state, "bsup.db"))
    db.execute("INSERT INTO metric_outbox(name, service, environment, at_ms, value, unit) "
               "VALUES('DriftCount', ?, ?, ?, 0, 'Count')",
               (services[0]["name"], services[0]["env"], ahead_ms))
    db.commit()
    db.close()
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "monitoring", "action": "PutMetricData", "fault": "throttle", "status": 400,
         "code": "InvalidParameterValue", "request_contains": stamp,
         "message": "The parameter MetricData.member.1.Timestamp must specify a time no more "
                    "than two hours in the future."}]})

    dm.start()
    dm.ctl("reconcile", "--wait", expect=None)
    R.bsuptest.poll(lambda: metrics()["outbox_depth"] == 0 and metrics()["dropped"] == 1,
                    lambda: f"the datum ahead dropped, the rest published: {metrics()}\n" +
                    "\n".join(l for l in dm.logtext().splitlines() if "metric" in l)[-2000:],
                    timeout_s=30)
    rules = testlib.control(faults, "GET", "rules")["rules"]
    print(f"FIGURE: requests refused for carrying the datum: {rules[0].get('applied')}")
    ev = [e for e in dm.ctl_json("events")["events"] if e["kind"] == "metrics.dropped"]
    check(len(ev) == 1 and "ahead of the clock" in ev[0]["message"], f"said: {ev}")
    dm.stop()

finish()
