#!/usr/bin/env python3
"""bsupd on a temporary socket and state directory, driven by bsupctl: status (table and
JSON), reload with a broken file, a reload that fails as a whole, events and events --follow,
pause persisted across restarts, reconcile --wait,
a live socket refused, a stale one replaced, and a clean SIGTERM with a consistent database."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import GOOD_API, GOOD_WORKER, Daemon, check, fail  # noqa: E402

# worker declares its own mode; api inherits the daemon's (observe).
d = Daemon(files={"10-api.yaml": GOOD_API % 4,
                  "20-worker.yaml": GOOD_WORKER % 4 + "mode: enforce\n"}).start()

# status, human: an aligned table within 100 columns, no colour when not a terminal.
r = d.ctl("status", expect=0)
lines = r.stdout.splitlines()
check(any(l.startswith("SERVICE") and "ENV" in l and "STATE" in l and "HEALTHY" in l
          for l in lines), "status has no header:\n" + r.stdout)
check(all(len(l) <= 100 for l in lines), "status wider than 100 columns:\n" + r.stdout)
check("\033[" not in r.stdout, "colour without a terminal")
check("never reconciled" in r.stdout and "api" in r.stdout and "worker" in r.stdout,
      "status misses services:\n" + r.stdout)

# status, JSON: documented fields.
j = d.ctl_json("status")
check(j["ok"] is True and j["protocol"] == 2 and j["attention"] is False, "status json: %r" % j)
svc = {s["service"]: s for s in j["services"]}
check(set(svc) == {"api", "worker"}, "services: %r" % svc.keys())
for key in ("environment", "mode", "generation", "state", "source_file", "config",
            "last_reconciled_at", "content_hash"):
    check(key in svc["api"], "status row lacks %s" % key)
check(svc["api"]["generation"] == 1 and svc["api"]["state"] == "never reconciled", "api row")
check(svc["api"]["environment"] == "prod" and svc["worker"]["source_file"] == "20-worker.yaml",
      "row values")
check(svc["api"]["mode"] == "observe" and svc["worker"]["mode"] == "enforce",
      "status: each service's own mode: %r" % {n: s["mode"] for n, s in svc.items()})
one = d.ctl_json("status", "worker")
check([s["service"] for s in one["services"]] == ["worker"], "status SERVICE filter")
r = d.ctl("status", "nope", expect=2)
check("no service named nope" in r.stderr, "unknown service message: " + r.stderr)
# --json prints the daemon's error object as it is, with nothing of a page added.
for cmd in ("status", "plan"):
    j = d.ctl_json(cmd, "nope", expect=2)
    check(j == {"ok": False, "error": {"code": "not_found", "message": "no service named nope"}},
          "%s --json error object: %r" % (cmd, j))

# Colour on a terminal only, and never with NO_COLOR.
def on_tty(extra_env):
    import pty
    import subprocess
    from bsuptest import BSUPCTL
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.update(extra_env)
    subprocess.run([BSUPCTL, "--socket", d.sock, "status"], stdout=slave, env=env, timeout=60)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return out.decode(errors="replace")


check("\033[" in on_tty({}), "no colour on a terminal")
check("\033[" not in on_tty({"NO_COLOR": "1"}), "colour despite NO_COLOR")

# plan: empty, never observed.
j = d.ctl_json("plan")
check(all(s["actions"] == [] and not s["observed"] and s["state"] == "never reconciled"
          for s in j["services"]),
      "plan: %r" % j)
check({s["service"]: s["mode"] for s in j["services"]} == {"api": "observe", "worker": "enforce"},
      "plan: each service's own mode, as in status: %r" % j)

# reload with a broken file: good services update, the broken one keeps its generation.
d.write("10-api.yaml", GOOD_API % 6)
d.write("20-worker.yaml", GOOD_WORKER % 5 + "min_size: [oops\n")
r = d.ctl("reload", expect=1)
check("rejected" in r.stdout and "20-worker.yaml" in r.stdout, "reload output: " + r.stdout)
j = d.ctl_json("status", expect=1)
svc = {s["service"]: s for s in j["services"]}
check(svc["api"]["generation"] == 2, "api should be generation 2: %r" % svc["api"])
check(svc["worker"]["generation"] == 1, "worker must keep generation 1: %r" % svc["worker"])
check(svc["worker"]["config"] != "ok" and svc["worker"]["attention"] is True, "worker flagged")
check(j["attention"] is True and j["daemon"]["last_load"]["files_rejected"] == 1, "attention")
r = d.ctl("status", expect=1)
check("20-worker.yaml" in r.stdout and "Rejected files" in r.stdout, "rejected shown")
check("a service one held before keeps its last good generation, marked !; one never loaded "
      "runs none" in r.stdout, "the header says what a rejected file's services do: " + r.stdout)
# The rejection is a config-rejected alert; with no SNS topic anywhere it is an event only and
# does not wait. With a topic (SNS unreachable here) the same alert waits.
check(j["daemon"]["metrics"]["alerts_waiting"] == 0 and "alerts waiting" not in j["summary"],
      "no topic, nothing waits: %r %r" % (j["daemon"]["metrics"], j["summary"]))
dt = Daemon(settings="log_level: debug\ninterval: 1d\nalerts:\n  sns_topic_arn: "
            "arn:aws:sns:eu-west-1:123456789012:ops\n",
            files={"10-api.yaml": GOOD_API % 4, "20-worker.yaml": "min_size: [oops\n"}).start()
j = dt.ctl_json("status", expect=1)
check(j["daemon"]["metrics"]["alerts_waiting"] == 1 and "1 alert waiting" in j["summary"],
      "with a topic the alert waits: %r %r" % (j["daemon"]["metrics"], j["summary"]))
check(j["summary"].startswith("1 service, 1 file rejected, "), "one of each: " + j["summary"])
dt.stop()

# Each error is listed once (under its file), at most 20 per file, then a count of the rest;
# the log shows no more either.
d.write("30-noisy.yaml", "service_name: noisy\n" + "".join("bad_key_%02d: 1\n" % i
                                                         for i in range(30)))
j = d.ctl_json("reload", expect=1)
load = j["loaded"]
check(j["ok"] is True and j["request_id"], "reload reply: %r" % {k: j[k] for k in j if k != "loaded"})
files = {f["name"]: f for f in load["file_list"]}
check(all(f["ok"] == (not f["errors"]) and f["services"] >= 0 for f in files.values()),
      "file list: %r" % files)
check(j["loaded"] == d.ctl_json("status", expect=None)["daemon"]["last_load"],
      "the reload reply and status's last_load differ")
check(load["errors"] == [], "errors listed twice: %r" % load["errors"])
check(files["20-worker.yaml"]["errors"] and len(files["20-worker.yaml"]["errors"]) < 20,
      "worker errors: %r" % files["20-worker.yaml"]["errors"])
noisy = files["30-noisy.yaml"]["errors"]
check(len(noisy) == 21 and len(set(noisy)) == 21 and "bad_key_00" in noisy[0],
      "noisy errors: %r" % noisy)
check(noisy[-1].startswith("30-noisy.yaml: \u2026 and ") and noisy[-1].endswith(" more errors"),
      "noisy count line: %r" % noisy[-1])
check(d.logtext().count("bad_key_2") == 0, "the log has the capped errors too")
os.unlink(os.path.join(d.conf, "30-noisy.yaml"))
d.ctl("reload", expect=1)

# SIGHUP does the same as reload.
d.write("20-worker.yaml", GOOD_WORKER % 5)
d.proc.send_signal(signal.SIGHUP)
for _ in range(200):
    j = d.ctl_json("status", expect=None)  # exit 1 until SIGHUP is handled, then 0
    if {s["service"]: s for s in j["services"]}["worker"]["generation"] == 2:
        break
    time.sleep(0.02)
else:
    fail("SIGHUP did not reload")

# events: config loads, rejections, changes; filtered by service and time.
j = d.ctl_json("events", "--since", "1h")
kinds = [e["kind"] for e in j["events"]]
for k in ("service.added", "config.loaded", "config.file_rejected", "service.changed"):
    check(k in kinds, "events lack %s: %r" % (k, kinds))
# A rejected file that had loaded keeps its services; one that never loaded has none running.
rejected = {e["message"].split(" ", 1)[0]: e["message"] for e in j["events"]
            if e["kind"] == "config.file_rejected"}
check("its services keep their last good state" in rejected.get("20-worker.yaml", ""),
      "worker had loaded: %r" % rejected)
check("it never loaded, so none of its services runs" in rejected.get("30-noisy.yaml", ""),
      "noisy never loaded: %r" % rejected)
j = d.ctl_json("events", "--service", "api")
check(j["events"] and all(e["service"] == "api" for e in j["events"]), "events --service")
# A service neither declared nor in the events is unknown, as for status and plan; one that
# was declared keeps its history readable after it has gone.
r = d.ctl("events", "--service", "nosuch", expect=2)
check("no service named nosuch" in r.stderr and "(not_found)" in r.stderr,
      "events of an unknown service: " + r.stderr)
d.write("25-gone.yaml", GOOD_API.replace("api", "gone") % 4)
d.ctl("reload", expect=0)
os.unlink(os.path.join(d.conf, "25-gone.yaml"))
d.ctl("reload", expect=0)
j = d.ctl_json("events", "--service", "gone")
check([e["kind"] for e in j["events"]] == ["service.added", "service.removed"],
      "events of a removed service: %r" % j["events"])
check(d.ctl_json("events", "--service", "api", "--since", "1s")["ok"] is True,
      "events of a declared service with none in the window")
# A reload storm that changes nothing says so once: it cannot push the history out.
count = lambda: sum(e["kind"] == "config.loaded" for e in d.ctl_json("events")["events"])
before = count()
for _ in range(20):
    d.ctl("reload", expect=0)
check(count() == before, "identical reloads recorded once: %d -> %d" % (before, count()))
r = d.ctl("events", expect=0)
check(all(len(l) <= 100 for l in r.stdout.splitlines()), "events wider than 100 columns")
d.ctl("events", "--since", "soon", expect=2)

# events --follow: the events so far, then each new one once, until SIGINT (exit 0). The
# protocol's after_id gives the events after an id, oldest first.
from bsuptest import BSUPCTL  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
newest = d.ctl_json("events")["events"][-1]["id"]
fol = subprocess.Popen([BSUPCTL, "--socket", d.sock, "events", "--follow", "--json",
                        "--since", "1h"], stdout=subprocess.PIPE, text=True)
lines = queue.Queue()
threading.Thread(target=lambda: [lines.put(x) for x in fol.stdout], daemon=True).start()
seen, deadline = [], time.monotonic() + 30


def follow_until(done):
    while time.monotonic() < deadline:
        try:
            seen.append(json.loads(lines.get(timeout=1)))
        except queue.Empty:
            continue
        if done(seen[-1]):
            return
    fail("follow stopped short: %r" % seen)


follow_until(lambda e: e["id"] == newest)  # the first reply
d.ctl("pause", expect=0)
follow_until(lambda e: e["kind"] == "daemon.paused")
d.ctl("resume", expect=0)
follow_until(lambda e: e["kind"] == "daemon.resumed")
fol.send_signal(signal.SIGINT)
check(fol.wait(timeout=10) == 0, "follow ends with 0 on SIGINT")
ids = [e["id"] for e in seen]
check(ids == sorted(set(ids)) and ids[-1] > newest, "each event once, in order: %r" % ids)
after = d.request({"cmd": "events", "after_id": newest})
check(after["ok"] and [e["id"] for e in after["events"]] == [i for i in ids if i > newest],
      "after_id: the events after it, oldest first: %r" % after)
for bad in ({"after_id": -1}, {"after_id": "1"}, {"after_id": 1, "since_s": 60}):
    r = d.request(dict(bad, cmd="events"))
    check(r["error"]["code"] == "bad_request", "events %r: %r" % (bad, r))
d.ctl("status", "--follow", expect=2)

# Output nobody can take. A full disk is an error (2), not "all good". A follower whose pipe's
# reader exits (| head -1) ends at once (0), not when the next event is written, and never
# writes on into the closed pipe where SIGPIPE is ignored (as Python ignores it: no restore);
# one writing into a full disk stops with 2.
with open("/dev/full", "w") as full:
    for args in (("status",), ("--version",), ("events", "--follow")):
        r = subprocess.run([BSUPCTL, "--socket", d.sock] + list(args), stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=10)
        check(r.returncode == 2 and "cannot write the output" in r.stderr,
              "%r into a full disk: %d %s" % (args, r.returncode, r.stderr))
for restore in (True, False):
    fol = subprocess.Popen([BSUPCTL, "--socket", d.sock, "events", "--follow"],
                           stdout=subprocess.PIPE, text=True, restore_signals=restore)
    check(fol.stdout.readline().startswith("TIME"), "the follower's header")
    fol.stdout.close()
    check(fol.wait(timeout=10) == 0, "a follower whose reader left ends (SIGPIPE %s)" %
          ("default" if restore else "ignored"))

# bsupd.yaml is read at start only: a reload that finds it edited says so, rewritten unchanged
# it does not.
with open(d.settings) as f:
    settings = f.read()
with open(d.settings, "w") as f:
    f.write(settings)
r = d.ctl("reload", expect=0)
check("warning" not in r.stdout, "settings rewritten unchanged: " + r.stdout)
with open(d.settings, "a") as f:
    f.write("mode: enforce\n")
r = d.ctl("reload", expect=0)
check("warning: %s changed since bsupd started and is read at start only: restart bsupd"
      % d.settings in r.stdout, "edited settings: " + r.stdout)
check(d.ctl_json("status")["daemon"]["mode"] == "observe", "the edit is not applied")
check(len(d.ctl_json("status")["daemon"]["last_load"]["warnings"]) == 1, "status's last_load")
with open(d.settings, "w") as f:
    f.write(settings)
check(d.ctl_json("reload")["loaded"]["warnings"] == [], "settings back as started")

# A reload that fails as a whole (the directory gone) shows in status until a load succeeds,
# by bsupctl reload or SIGHUP alike; the next good load says the configuration loads again
# even when it is the same as the last good one. The config condition alert opens and closes.
def config_events():
    return [e for e in d.ctl_json("events")["events"] if e["kind"].startswith("config.")]


def config_alert_open():
    r = subprocess.run(["sqlite3", os.path.join(d.state, "bsup.db"),
                        "SELECT count(*) FROM alert_conditions WHERE condition = 'config'"],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip() == "1"


check(d.ctl_json("status")["daemon"]["reload_failed"] is None, "reload_failed before a failure")
good_load = d.ctl_json("status")["daemon"]["last_load"]
os.rename(d.conf, d.conf + ".away")
before = time.time()
r = d.ctl("reload", expect=2)
check("(reload_failed)" in r.stderr, "reload of a missing directory: " + r.stderr)
st = d.ctl_json("status", expect=1)
failed = st["daemon"]["reload_failed"]
check(isinstance(failed, dict) and set(failed) == {"at", "error"} and
      int(before) <= failed["at"] <= time.time() and d.conf in failed["error"],
      "status after a failed reload: %r" % failed)
# It needs an operator as a rejected file does: attention (exit 1) and said in the summary.
check(st["attention"] is True and st["summary"].startswith("2 services, last reload failed, "),
      "attention and summary after a failed reload: %r %r" % (st["attention"], st["summary"]))
check(d.ctl_json("plan", expect=1)["attention"] is True, "plan's attention after a failed reload")
check(st["daemon"]["last_load"] == good_load, "the last good load stays in status")
check(config_events()[-1]["kind"] == "config.failed", "config.failed recorded")
check(config_alert_open(), "the config-failed alert opened")
os.rename(d.conf + ".away", d.conf)
d.proc.send_signal(signal.SIGHUP)
for _ in range(200):
    if d.ctl_json("status", expect=None)["daemon"]["reload_failed"] is None:
        break
    time.sleep(0.02)
else:
    fail("SIGHUP with the directory back left reload_failed set")
last = config_events()[-1]
check(last["kind"] == "config.loaded" and "loads again" in last["message"],
      "the load after a failed one: %r" % last)
st = d.ctl_json("status", expect=0)
check(st["attention"] is False and "reload" not in st["summary"], "fixed: %r" % st["summary"])
check(not config_alert_open(), "the config-failed alert closed")
n = len(config_events())
d.ctl("reload", expect=0)
check(len(config_events()) == n, "an identical reload after that is quiet again")

# reconcile: acknowledged, and --wait returns once the cycle is done. This daemon has no AWS
# region, so the cycle fails, and status says so (exit 1) with the reason.
j = d.ctl_json("reconcile")
check(j["accepted"] is True and j["request_id"], "reconcile ack: %r" % j)
j = d.ctl_json("reconcile", "api", "--wait", expect=1)
check(j["completed"] is True and j["attention"] is True, "reconcile --wait: %r" % j)
d.ctl("reconcile", "nope", expect=2)
j = d.ctl_json("status", "api", expect=1)
row = j["services"][0]
check(row["state"] == "error" and "region" in (row["error"] or ""), "no region: %r" % row)

# pause persists across a restart.
d.ctl("pause", expect=0)
check(d.ctl_json("status", expect=1)["daemon"]["paused"] is True, "paused")
rc, took = d.stop()
check(rc == 0, "bsupd exit %s after SIGTERM:\n%s" % (rc, d.logtext()))
check(took < 10, "SIGTERM took %.1fs" % took)
check(not os.path.exists(d.sock), "socket file left behind")
check(d.integrity() == "ok", "integrity_check: " + d.integrity())
# A record the database holds damaged (here cut short) costs that service its recorded
# observations in status, not the reply: status stays JSON, and the log says which.
subprocess.run(["sqlite3", os.path.join(d.state, "bsup.db"),
                "UPDATE observations SET observed = substr(observed, 1, length(observed) - 2) "
                "WHERE service = 'worker'"], check=True, timeout=30)
d.start()
# (the failed cycle's record is shown until this run's first cycle: attention, exit 1)
j = d.ctl_json("status", expect=1)
check("service=worker its stored observations are not JSON" in d.logtext()
      and "service=api its stored" not in d.logtext(), "the damaged record:\n" + d.logtext())
check(j["daemon"]["paused"] is True and "paused" in j["summary"], "pause not persisted")
check(all(s["state"] == "error" and s["recorded"] for s in j["services"]),
      "the recorded states: %r" % [(s["state"], s["recorded"]) for s in j["services"]])
# ...each with the reason recorded with it, in JSON and on its line under the table.
check(all("region" in (s["error"] or "") for s in j["services"]),
      "the recorded errors: %r" % [(s["service"], s["error"]) for s in j["services"]])
r = d.ctl("status", expect=1)
check("Errors" in r.stdout and all(any(l.startswith("  %s: " % n) and "region" in l
                                           for l in r.stdout.splitlines())
                                       for n in ("api", "worker")),
      "the recorded reasons under the table:\n" + r.stdout)
check(all(s["mode"] == "observe" for s in j["services"]), "paused means observe")
# The documented remedy for a corrupt database (move it aside) keeps the kill switch pulled.
d.stop()
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(os.path.join(d.state, "bsup.db" + suffix)):
        os.rename(os.path.join(d.state, "bsup.db" + suffix),
                  os.path.join(d.state, "bsup.db.aside" + suffix))
d.start()
j = d.ctl_json("status")
check(j["daemon"]["paused"] is True, "pause survives the database moved aside")
d.ctl("resume", expect=0)
check(not os.path.exists(os.path.join(d.state, "paused")), "resume clears the flag file")

# A second bsupd on a live socket refuses to start and leaves the first alone.
d2 = Daemon()
d2.sock = d.sock
d2.start(wait=False)
try:
    rc2 = d2.proc.wait(timeout=30)
except Exception:
    fail("second bsupd did not exit")
check(rc2 == 1 and "bsupd (pid %d) is already listening on %s" % (d.proc.pid, d.sock)
      in d2.logtext(), "second bsupd: %s %s" % (rc2, d2.logtext()))
d.ctl("status", expect=0)
# Something else listening on the path is named as what it is, not as "another bsupd".
d3 = Daemon()
os.makedirs(os.path.dirname(d3.sock))
other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
other.bind(d3.sock)
other.listen(4)
d3.start(wait=False)
rc3 = d3.proc.wait(timeout=30)
other.close()
check(rc3 == 1 and "(pid %d) is already listening on %s" % (os.getpid(), d3.sock)
      in d3.logtext() and "bsupd (pid" not in d3.logtext(), "other listener: %s %s" % (
          rc3, d3.logtext()))

# A second bsupd on the live state directory, --once or on another socket, refuses: one
# bsupd per state directory (flock), and the first keeps working.
# --once exits 2: its cycle could not run (1 would say a service needs attention).
for extra, want in ((["--once"], 2), (["--socket", os.path.join(d.root, "other.sock")], 1)):
    p = subprocess.run(d.argv() + extra, env=d.env, capture_output=True, text=True, timeout=30)
    check(p.returncode == want and "in use by another bsupd (pid %d)" % d.proc.pid in p.stderr,
          "second bsupd %s: %s %s" % (extra, p.returncode, p.stderr[-400:]))
d.ctl("status", expect=0)
# SIGUSR1 and SIGUSR2 are ignored: bsupd keeps serving.
d.proc.send_signal(signal.SIGUSR1)
d.proc.send_signal(signal.SIGUSR2)
d.ctl("status", expect=0)
check(d.proc.poll() is None, "bsupd survives SIGUSR1 and SIGUSR2")

# No drop-in left (a mount missing, the files moved away) is no order to remove every service:
# the reload fails as a whole and they stay. A drop-in holding services: [] is that order.
saved = {n: open(os.path.join(d.conf, n)).read() for n in os.listdir(d.conf)}
names = sorted(s["service"] for s in d.ctl_json("status", expect=None)["services"])
for n in saved:
    os.unlink(os.path.join(d.conf, n))
r = d.ctl("reload", expect=2)
check("holds no drop-in" in r.stdout + r.stderr and "services: []" in r.stdout + r.stderr,
      "empty directory refused: %r" % (r.stdout + r.stderr))
check(sorted(s["service"] for s in d.ctl_json("status", expect=None)["services"]) == names,
      "the services stay")
d.write("00-none.yaml", "services: []\n")
d.ctl("reload", expect=None)
check(d.ctl_json("status", expect=None)["services"] == [], "services: [] removes them all")
os.unlink(os.path.join(d.conf, "00-none.yaml"))
for n, text in saved.items():
    d.write(n, text)
d.ctl("reload", expect=0)
check(sorted(s["service"] for s in d.ctl_json("status", expect=None)["services"]) == names,
      "back again")

# Bad arguments and an unreachable daemon: exit 2 with the socket named.
d.ctl("frobnicate", expect=2)
d.ctl("status", "--bogus", expect=2)
# A SERVICE that is not UTF-8 or holds control characters is a bad argument: one not UTF-8 was
# dropped from the request, which then meant every service (a reconcile of all of them), and
# control characters came back in bsupd's error, raw to the terminal.
requested = lambda: sum(e["kind"] == "reconcile.requested"  # noqa: E731
                        for e in d.ctl_json("events", expect=0)["events"])
before = requested()
for bad in ("api\udcff", "api\n\x1b[31m"):
    for args in (("status", bad), ("plan", bad), ("reconcile", bad), ("events", "--service", bad)):
        r = d.ctl(*args, expect=2)
        check("SERVICE" in r.stderr and "\x1b" not in r.stderr, "%r: %s" % (args, r.stderr))
check(requested() == before, "no reconcile was requested by a bad SERVICE")
# Text from bsupd reaches the terminal without control characters (an AWS message or an event
# could otherwise move the cursor, recolour or retitle it); --json escapes them as JSON does.
subprocess.run(["sqlite3", os.path.join(d.state, "bsup.db"),
                "INSERT INTO events(at, service, kind, message) VALUES(strftime('%s','now'), "
                "'api', 'test.note', 'red ' || char(27) || '[31m, title ' || char(27) || "
                "']0;x' || char(7) || ', csi ' || char(155) || '2J')"],
               check=True, timeout=30)
r = d.ctl("events", expect=0)
check("test.note" in r.stdout and "\x1b" not in r.stdout and "\x07" not in r.stdout and
      "\x9b" not in r.stdout and "red \\x1b[31m, title \\x1b]0;x\\x07, csi \\xc2\\x9b2J"
      in r.stdout, "control characters shown escaped: %r" % r.stdout[-400:])
ev = [e for e in d.ctl_json("events")["events"] if e["kind"] == "test.note"]
check(ev and ev[0]["message"] == "red \x1b[31m, title \x1b]0;x\x07, csi \x9b2J",
      "--json keeps the text: %r" % ev)

# --service is events' filter: 'status api --service worker' showed worker, silently.
for args in (("status", "api", "--service", "worker"), ("plan", "--service=worker"),
             ("reconcile", "--service", "worker"), ("reload", "--service", "worker")):
    r = d.ctl(*args, expect=2)
    check("--service goes with events" in r.stderr, "%r: %s" % (args, r.stderr))
check(requested() == before, "no reconcile was requested by a misplaced --service")
for args in (["--socket="], ["-S", ""]):
    r = subprocess.run([BSUPCTL] + args + ["status"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and "--socket needs a path" in r.stderr, "%r: %s" % (args, r.stderr))
r = d.ctl("--help", expect=0)
check("reconcile" in r.stdout, "help")
r = d.ctl("--version", expect=0)
check(r.stdout.startswith("bsupctl "), "version")

rc, took = d.stop()
check(rc == 0 and took < 10, "second stop: rc=%s took=%.1f" % (rc, took))
check(d.integrity() == "ok", "integrity after restart")

# A stale socket file (nothing listening) is replaced.
stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
stale.bind(d.sock)
stale.close()
d.start()
d.ctl("status", expect=0)
rc, _ = d.stop()
check(rc == 0, "stop after stale socket")
r = d.ctl("status", expect=2)
check(d.sock in r.stderr and "bsupd" in r.stderr, "unreachable message: " + r.stderr)
print("ok")
