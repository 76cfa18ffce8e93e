#!/usr/bin/env python3
"""bsupctl's human output. First against a real bsupd that has no AWS region, so each cycle
fails (state error): long service names are never cut (table, plan hint, events; a long
resource name in an event message runs past the width whole), the summary
counts errors apart from degraded, the reason is shown under the table (cut to the width) and
whole for one service, and plan shows it instead of the hint to observe. Then against a fake
bsupd answering canned replies made from the real one's, for what the local AWS cannot show
on demand: every restore drill phase in the DRILL column, the age of a metrics error, a reload
that failed as a whole, the age of one service's target-health reading, and a plan with long fields and reasons, wrapped and never cut."""
import copy
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import BSUPCTL, GOOD_API, Daemon, check, tmpdir  # noqa: E402

EAST1, EAST2 = "payments-gateway-east-1", "payments-gateway-east-2"
LONG = "reconciliation-ledger-of-the-payments-gateway-in-the-east-zone1"
check(len(LONG) == 63, "a name of the longest valid length: %d" % len(LONG))
# Its default AWS names (LONG-prod) would exceed AWS's limits: the drop-in must name them.
LONG_RESOURCES = ("resources: {target_group: ledger-tg, load_balancer: ledger-lb, "
                  "db_instance: ledger-db}\n")


def dropin(name):
    return GOOD_API.replace("service_name: api", "service_name: " + name) % 4


def words(text):
    """text with every run of white space made one space: a wrapped text compares whole."""
    return " ".join(text.split())


def table(out):
    """{service: line} of the status table in out, and its header."""
    lines = out.splitlines()
    head = next(ln for ln in lines if ln.startswith("SERVICE"))
    rows = {}
    for ln in lines[lines.index(head) + 1:]:
        if not ln.strip():
            break
        rows[ln.split()[0]] = ln
    return head, rows


d = Daemon(files={"10-east1.yaml": dropin(EAST1), "20-east2.yaml": dropin(EAST2),
                  "30-long.yaml": dropin(LONG) + LONG_RESOURCES}).start()

# Names whole, even the longest; the columns stay aligned under their headers.
r = d.ctl("status", expect=0)
head, rows = table(r.stdout)
check(set(rows) == {EAST1, EAST2, LONG}, "every name whole in the table:\n" + r.stdout)
check("~" not in r.stdout, "nothing cut:\n" + r.stdout)
check(all(ln.index("never") == head.index("STATE") for ln in rows.values()),
      "STATE aligned:\n" + r.stdout)
r = d.ctl("plan", LONG, expect=0)
check("'bsupctl reconcile %s' observes it now" % LONG in r.stdout,
      "the plan's hint names the service whole: " + r.stdout)
r = d.ctl("events", "--service", LONG, expect=0)
check(any(ln.split()[2:3] == [LONG] for ln in r.stdout.splitlines()),
      "events name the service whole:\n" + r.stdout)

# No region: the cycle fails for each service (state error), which the summary counts apart.
d.ctl("reconcile", "--wait", expect=1)
j = d.ctl_json("status", expect=1)
errs = {s["service"]: s["error"] for s in j["services"]}
check(all(s["state"] == "error" and "region" in (s["error"] or "") for s in j["services"]),
      "each in error: %r" % errs)
check(j["attention"] is True and "0 degraded, 3 error" in j["summary"],
      "the summary counts errors apart: " + j["summary"])
# The table: a line per errored service below it, cut to the width.
r = d.ctl("status", expect=1, env={"COLUMNS": "80"})
lines = r.stdout.splitlines()
below = lines[lines.index(next(ln for ln in lines if ln.startswith("Errors"))) + 1:]
for name, err in errs.items():
    line = next((ln for ln in below if ln.startswith("  %s: " % name)), "")
    check(line and len(line) <= 80 and err.startswith(line[len(name) + 4:].rstrip("~")),
          "%s's error under the table, within 80 columns:\n%s" % (name, r.stdout))
check("0 degraded, 3 error" in lines[0], "the summary line: " + lines[0])
# One service: its whole reason and when it was last reconciled.
r = d.ctl("status", LONG, expect=1)
check(words(errs[LONG]) in words(r.stdout) and "Last reconciled " in r.stdout
      and "1 time in a row (retried with backoff)" in r.stdout, "status SERVICE:\n" + r.stdout)
# plan: the error, not the hint to observe a service this run could not; exit 1, as with
# --json: a service in error needs attention though it has no actions.
d.ctl("plan", "--json", expect=1)
r = d.ctl("plan", expect=1)
check("observes it now" not in r.stdout and all(
    words("%s (generation 1, observe mode): error: %s" % (n, e)) in words(r.stdout)
    for n, e in errs.items()), "plan shows the errors:\n" + r.stdout)
real = j
check(re.search(r"\b\d+ metrics? waiting", j["summary"]), "datums wait: " + j["summary"])
d.stop()

# metrics.enabled false: nothing is measured or sent; the datums measured above are kept, not
# waiting, and the Metrics line says so rather than "last published never".
with open(d.settings, "a") as f:
    f.write("metrics:\n  enabled: false\n")
d.start()
j = d.ctl_json("status", expect=None)
m = j["daemon"]["metrics"]
check(m["enabled"] is False and m["outbox_depth"] > 0, "kept datums: %r" % m)
check("waiting" not in j["summary"], "the summary has nothing waiting: " + j["summary"])
r = d.ctl("status", expect=None)
check("\nMetrics: disabled (metrics.enabled: false), %d measured before kept unsent\nAlerts: "
      "0 waiting, 0 sent\n" % m["outbox_depth"] in r.stdout and "last published" not in r.stdout,
      "metrics disabled:\n" + r.stdout)
d.stop()


# ---- a fake bsupd with canned replies (one connection per request, as bsupctl makes) ----
class Fake:
    def __init__(self):
        self.path = os.path.join(tmpdir(), "fake.sock")
        self.replies = {}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            with conn:
                buf = b""
                while b"\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                cmd = json.loads(buf.split(b"\n")[0])["cmd"]
                conn.sendall(json.dumps(self.replies[cmd]).encode() + b"\n")

    def ctl(self, *args, expect, columns="100"):
        env = dict(os.environ, COLUMNS=columns)
        env.pop("NO_COLOR", None)
        r = subprocess.run([BSUPCTL, "--socket", self.path] + list(args), capture_output=True,
                           text=True, timeout=60, env=env)
        check(r.returncode == expect, "bsupctl %s: exit %d, expected %d\n%s%s" % (
            " ".join(args), r.returncode, expect, r.stdout, r.stderr))
        return r.stdout


fake = Fake()
now = int(time.time())
HOUR, DAY = 3600, 86400
# DRILL for each phase (core/reconcile/backup.h): a due drill is only planned (observe mode
# plans it and runs none), a drill that ended shows its result while its instance goes.
drills = [  # name, backup fields, DRILL
    ("d-off", dict(drill="off", next_drill_at=0), "-"),
    # restore_test turned off after a drill: no drill runs again, its result is not news
    ("d-off-after", dict(drill="off", next_drill_at=0, last_drill="interrupted",
                         last_drill_at=now - DAY), "-"),
    ("d-never", dict(drill="idle"), "never"),
    ("d-waiting", dict(drill="waiting"), "due"),
    ("d-scheduled", dict(drill="scheduled", drill_active=True), "due"),
    ("d-restore-due", dict(drill="restore-due", drill_active=True), "due"),
    ("d-restoring", dict(drill="restoring", drill_active=True, drill_status="creating"),
     "running"),
    ("d-deleting", dict(drill="deleting", drill_active=True, last_drill="ok",
                        last_drill_at=now - 5 * 60), "ok 5m"),  # minutes: a slow run's second
    ("d-cleanup", dict(drill="cleanup", drill_active=True, last_drill="failed",
                       last_drill_at=now - 3 * HOUR), "fail 3h"),
    ("d-interrupted", dict(drill="idle", last_drill="interrupted", last_drill_at=now - 3 * DAY),
     "intr 3d"),
    ("d-conflict", dict(drill="conflict"), "conflict"),
]
status = copy.deepcopy(real)
base = copy.deepcopy(real["services"][0])
base.update(state="ok", error=None, failures=0, drift=False, degraded=False, attention=False)
status["services"] = []
for name, fields, _ in drills:
    row = copy.deepcopy(base)
    row["service"] = name
    row["backup"] = dict(dict(found=True, newest_backup_age_s=30120, retention_ok=True,
                              snapshots_read_at=now, drill="idle", drill_active=False,
                              last_drill="", last_drill_at=0, next_drill_at=now + DAY),
                         **fields)
    status["services"].append(row)
status.update(attention=False, summary="10 services, 0 drift, 0 degraded")
status["daemon"]["metrics"] = {
    "enabled": True, "namespace": "BSUP", "outbox_depth": 0, "oldest_age_s": None,
    "alerts_waiting": 0, "last_publish_at": now - 10, "last_alert_at": None, "requests": 9,
    "datums": 90, "dropped": 0, "alerts_sent": 0,
    "last_error": "PutMetricData: Operation timed out after 10000 milliseconds",
    "last_error_at": now - 3 * 60}
fake.replies["status"] = status
out = fake.ctl("status", expect=0)
head, rows = table(out)
for name, _, want in drills:
    got = rows[name][head.index("DRILL"):].strip()
    check(got == want, "DRILL of %s: %r, want %r\n%s" % (name, got, want, out))
# A metrics error with its age (publishing went on since: last published 10 s ago).
check("  last error 3m ago: PutMetricData: Operation timed out" in out, "metrics error:\n" + out)
check("Last reload failed" not in out, "no reload failed, nothing said:\n" + out)
status["daemon"]["reload_failed"] = None
check("Last reload failed" not in fake.ctl("status", expect=0), "null: nothing said")
# A reload that failed as a whole: said under the summary, with what still serves.
status["daemon"]["reload_failed"] = {"at": now - 120, "error": "cannot read /etc/bsup.d: "
                                     "Permission denied"}
loaded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(status["daemon"]["last_load"]["at"]))
out = fake.ctl("status", expect=0)
said = out[out.index("\n") + 1:out.index("SERVICE")]
check(words(said) == "Last reload failed 2m ago: cannot read /etc/bsup.d: Permission denied; "
      "serving the configuration loaded at " + loaded, "reload failed:\n" + out)
# The state database failing: its last error under the summary, only while unhealthy.
check("State database failing" not in out, "healthy: nothing said:\n" + out)
status["daemon"]["reload_failed"] = None
status["engine"] = dict(status["engine"], healthy=False, store_errors=2,
                        store_error="state database /var/lib/bsup/bsup.db: no space left while "
                        "committing; free disk space")
out = fake.ctl("status", expect=0)
said = out[out.index("\n") + 1:out.index("SERVICE")]
check(words(said) == "State database failing: state database /var/lib/bsup/bsup.db: no space "
      "left while committing; free disk space", "store error:\n" + out)
status["engine"]["healthy"] = True  # recovered: the last error stays in --json only
check("State database failing" not in fake.ctl("status", expect=0), "recovered: nothing said")

# One service: how old its target-health reading is (paced: older than its last cycle); the
# table is not widened for it.
one = copy.deepcopy(base)
one.update(service="paced", last_reconciled_at=now - 10,
           health=dict(found=True, targets=3, healthy=2, health_read_at=now - 7 * 60))
fake.replies["status"] = dict(status, services=[one], total=1, next_offset=None, next_from=None)
out = fake.ctl("status", "paced", expect=0)
check(re.search(r"Last reconciled 1[01]s ago\nHealthy targets 2/3, read 7m ago\n", out) and
      all(len(ln) <= 100 for ln in out.splitlines()), "the reading's age:\n" + out)
one["health"]["health_from_metrics"] = True  # a first reading from CloudWatch: said so
check("Healthy targets 2/3, read 7m ago (the load balancer's metrics)\n" in
      fake.ctl("status", "paced", expect=0), "a reading from the metrics says so")
one["health"]["health_read_at"] = 0  # never read: no line
check("Healthy targets" not in fake.ctl("status", "paced", expect=0), "unread: nothing said")
fake.replies["status"] = status

# An outage: 25 services in error, 20 reasons under the table, then a count.
status["daemon"]["reload_failed"] = None
status["services"] = []
for k in range(25):
    row = copy.deepcopy(base)
    row.update(service="e%02d" % k, state="error", attention=True,
               error="DescribeAutoScalingGroups: Failed to connect")
    status["services"].append(row)
status.update(attention=True, summary="25 services, 0 drift, 0 degraded, 25 error")
out = fake.ctl("status", expect=1)
listed = [ln for ln in out.splitlines() if ln.startswith("  e") and ": Failed" in ln]
check(len(listed) == 20 and "  ... and 5 more in error" in out,
      "20 reasons, then a count:\n" + out)

# plan: the FIELD column fits the longest field, reasons wrap under themselves, nothing cut.
why = ("the drop-in's health_check.unhealthy_threshold; bsupd does not change a target group "
       "that another stack owns unless health_check.manage is true, so this is reported only")
held = ("cooldown: the last change to this target group was 40s ago and the cooldown is 5m; "
        "bsupd applies it once the cooldown has passed")
fake.replies["plan"] = {
    "ok": True, "protocol": 2, "paused": False, "total": 1, "offset": 0, "next_offset": None,
    "next_from": None, "services": [{
        "service": LONG, "generation": 3, "mode": "enforce", "observed": True,
        "observed_at": now, "state": "held", "actions": [{
            "action": "update", "resource": "targetgroup/" + LONG, "held": True,
            "held_reason": held, "held_by": "cooldown", "changes": [
                {"field": "UnhealthyThresholdCount", "observed": "2", "desired": "3",
                 "reason": why},
                {"field": "HealthCheckIntervalSeconds", "observed": "30", "desired": "10",
                 "reason": "health_check.interval in the drop-in"}]}]}]}
out = fake.ctl("plan", expect=1, columns="70")
lines = out.splitlines()
check("~" not in out and all(len(ln) <= 70 for ln in lines if LONG not in ln),
      "plan within 70 columns but for the name, nothing cut:\n" + out)
check(lines[0].startswith(LONG + " (generation 3, enforce mode): held"), "plan head:\n" + out)
fields = [ln for ln in lines if ln.startswith(" " * 10 + "UnhealthyThresholdCount")
          or ln.startswith(" " * 10 + "HealthCheckIntervalSeconds")]
check(len(fields) == 2 and fields[0].index("2 -> 3") == fields[1].index("30 -> 10"),
      "each field whole, the values aligned after the longest:\n" + out)
at = lines.index(next(ln for ln in lines if ln.startswith("            why: the drop-in")))
wrapped = [lines[at][17:]]
for ln in lines[at + 1:]:
    if not ln.startswith(" " * 17) or ln[17] == " ":
        break
    wrapped.append(ln[17:])
check(len(wrapped) > 1 and " ".join(wrapped) == why, "why wrapped under itself:\n" + out)
check(words("held: " + held) in words(out), "held reason whole:\n" + out)

# plan of a service in error with actions from before: the error heads it, never "in sync",
# and the actions are said to be the last observation's.
row = fake.replies["plan"]["services"][0]
row.update(state="error", actions=[dict(row["actions"][0], held=False)])
err_row = copy.deepcopy(base)
err_row.update(service=LONG, state="error", error="DescribeTargetGroups: timed out")
fake.replies["status"] = dict(status, services=[err_row], total=1, next_offset=None,
                              next_from=None)
out = fake.ctl("plan", expect=1, columns="100")
lines = out.splitlines()
check(lines[0].endswith("(generation 3, enforce mode): error") and
      lines[1] == "  error: DescribeTargetGroups: timed out" and
      lines[2] == "  as last observed, before the error:" and "in sync" not in out,
      "plan of a service in error:\n" + out)
row["actions"] = []
out = fake.ctl("plan", expect=1, columns="100")
check("in sync" not in out and "as last observed" not in out and
      "error: DescribeTargetGroups: timed out" in out, "in error with no actions:\n" + out)
# plan: bsupd's own alarms need no operator (exit 0, "in sync") while they wait for their
# budget; one it stopped keeping because something else keeps changing it (fighting) does.
alarm = {"action": "update", "resource": "cloudwatch-alarm/bsup-api-prod-errors", "owned": True,
         "held": True, "changes": [{"field": "Alarm", "observed": "absent", "desired": "exists",
                                    "reason": "bsupd keeps this alarm on the metric it publishes"}]}
row.update(state="ok", actions=[dict(alarm, held_by="paced", held_reason="paced: waits")])
out = fake.ctl("plan", expect=0, columns="100")
check("in sync" in out, "an alarm waiting for its budget:\n" + out)
row["actions"] = [dict(alarm, held_by="fighting", held_reason="fighting: came back")]
out = fake.ctl("plan", expect=1, columns="100")
check("in sync" not in out and "held: fighting: came back" in out,
      "an alarm bsupd stopped keeping:\n" + out)

# plan of a service corrected in its last cycle: what AWS accepted is shown applied, not as a
# change still to make (exit 0, headed by the state).
upd = {"action": "update", "resource": "autoscaling-group/api-prod", "held": False,
       "applied": True, "changes": [{"field": "MaxSize", "observed": "10", "desired": "6",
                                     "reason": "max_size in the drop-in"}]}
row.update(state="corrected", actions=[upd])
out = fake.ctl("plan", expect=0, columns="100")
lines = out.splitlines()
check(lines[0].endswith("(generation 3, enforce mode): corrected") and
      lines[1] == "  update  autoscaling-group/api-prod  (applied)", "a corrected service:\n" + out)
row["actions"] = [dict(upd, applied=False)]
out = fake.ctl("plan", expect=1, columns="100")
check("(applied)" not in out, "a change not applied is pending:\n" + out)

# events: a resource name longer than the MESSAGE column runs past the width whole, never
# split mid-name; the words around it still wrap at spaces.
arn = ("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + LONG +
       "/0123456789abcdef")
msg = "ModifyTargetGroup %s: HealthCheckIntervalSeconds 30 -> 10 (the drop-in)" % arn
fake.replies["events"] = {"ok": True, "protocol": 2, "events": [
    {"id": 1, "at": now, "service": "api", "kind": "action.applied", "message": msg}]}
out = fake.ctl("events", expect=0, columns="80")
check(any(arn in ln for ln in out.splitlines()) and words(msg) in words(out),
      "the ARN whole on one line, the message whole:\n" + out)
check(all(len(ln) <= 80 for ln in out.splitlines() if arn not in ln),
      "the other lines within 80 columns:\n" + out)

print("ok")
