#!/usr/bin/env python3
"""The reconcile engine and the scaling reconciler against the local AWS: drift corrected in
enforce mode and only reported in observe mode; a missing group reported; --once exit codes;
crash safety at failpoints with no duplicated mutation; fight detection; and a throttled
service that does not delay the others."""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

UPDATE = ("autoscaling", "UpdateAutoScalingGroup")

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 3)
    a, b, c = services
    ga, gb = f"{a['name']}-{a['env']}", f"{b['name']}-{b['env']}"
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]

    # In sync: --once exits 0 and changes nothing. (No cooldown: each run may change again.)
    dm = R.daemon(d, services, net, settings="cooldown: 0s\n")
    p = R.once(dm)
    check(p.returncode == 0, f"--once in sync: {p.returncode} {p.stderr[-600:]}")
    check(R.counts(d, *UPDATE) == 0, "nothing changed")

    # valgrind: the daemon's normal run (start, a cycle, reload, SIGTERM) leaks nothing.
    if shutil.which("valgrind") and not R.bsuptest.BUILD.rstrip("/").endswith("-asan"):
        dv = R.daemon(d, services, net)
        vlog = os.path.join(dv.root, "valgrind.log")
        orig = dv.argv
        dv.argv = lambda: ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                           "--error-exitcode=9", f"--log-file={vlog}", *orig()]
        dv.start()
        dv.ctl("reconcile", "--wait", expect=0)
        dv.ctl("reload", expect=0)
        rc, _ = dv.stop(timeout_s=60)
        text = open(vlog).read()
        check(rc == 0 and ("definitely lost: 0" in text or "no leaks are possible" in text),
              f"valgrind: daemon exit {rc}; {text[-600:]}")
    else:
        print("skip valgrind: sanitizer build or no valgrind")

    # Per-service endpoint_urls in bsupd.yaml win over AWS_ENDPOINT_URL (here: a dead port).
    url = R.aws_env(d)["AWS_ENDPOINT_URL"]
    de = R.daemon(d, services, net,
                  settings=f"endpoint_urls:\n  autoscaling: {url}\n  ec2: {url}\n  rds: {url}\n"
                  f"  elasticache: {url}\n  secretsmanager: {url}\n  ssm: {url}\n  elbv2: {url}\n"
                  f"  cloudwatch: {url}\n")
    p = R.once(de, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    check(p.returncode == 0, f"endpoint_urls used: {p.returncode} {p.stderr[-400:]}")

    # Observe mode: drift reported (exit 1), AWS untouched.
    R.drift(d, ga, "asg-max", a["max"] + 5)
    R.drift(d, ga, "asg-min", 0)
    R.drift(d, ga, "asg-desired", 0)
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm)
    # The log says what the run found, in observe mode too (it changes nothing to log).
    check(re.search(rf"notice drift\.found service={a['name']} observe mode: .*MaxSize "
                    rf"{a['max'] + 5} \(want {a['max']}\)", p.stderr),
          f"the drift found is logged: {p.stderr[-1500:]}")
    # The emptied group has no instances to say their type: its launch template's $Latest is
    # resolved (batched) and that version read once; the next run has it from the database.
    ec2 = testlib.control(faults, "GET", "counts")["services"].get("ec2", {})
    check(ec2.get("DescribeLaunchTemplates") == 1 and ec2.get("DescribeLaunchTemplateVersions") == 1,
          f"an empty group's launch template read: {ec2}")
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dm)
    ec2 = testlib.control(faults, "GET", "counts")["services"].get("ec2", {})
    check(ec2.get("DescribeLaunchTemplates") == 1 and not ec2.get("DescribeLaunchTemplateVersions"),
          f"the version's type is kept across runs: {ec2}")
    check(p.returncode == 1, f"--once with drift in observe mode: {p.returncode}")
    # A second run finds the same drift: no new event, but its output still says what needs
    # attention (a cron job's mail would otherwise say only 'drift=1').
    check(re.search(rf"notice drift\.found service={a['name']} observe mode: .*MaxSize "
                    rf"{a['max'] + 5} .*\(as the last run found\)", p.stderr),
          f"a standing drift is logged by --once: {p.stderr[-1500:]}")
    check(R.group(d, ga) == (0, a["max"] + 5, 0), f"observe mode leaves AWS alone: {R.group(d, ga)}")
    check(R.counts(d, *UPDATE) == 0, "no mutation in observe mode")

    # Enforce mode: min/max corrected, desired clamped into the bounds.
    p = R.once(dm, "--mode", "enforce")
    check(p.returncode == 0, f"--once enforce corrects: {p.returncode} {p.stderr[-600:]}")
    check(R.group(d, ga) == (a["min"], a["max"], a["min"]), f"corrected: {R.group(d, ga)}")
    check(R.counts(d, *UPDATE) == 1, "exactly one UpdateAutoScalingGroup")

    # A group that does not exist is an error, never created.
    ghost = dict(a, name="ghost")
    dg = R.daemon(d, services + [ghost], net)
    p = R.once(dg, "--mode", "enforce")
    check(p.returncode == 1, f"missing group: exit {p.returncode}")
    check(R.counts(d, "autoscaling", "CreateAutoScalingGroup") == 0, "never created")
    dg.start()
    dg.ctl("reconcile", "--wait", expect=1)
    row = [s for s in dg.ctl_json("status", "ghost", expect=1)["services"]][0]
    check(row["state"] == "missing", f"ghost is missing: {row['state']}")
    ev = dg.ctl_json("events", "--service", "ghost")["events"]
    check(any(e["kind"] == "service.missing" for e in ev), "missing-group event")
    dg.stop()

    # Crash safety: die between the intent and the call, then between the call and the outcome.
    has_failpoints = True
    R.drift(d, gb, "asg-max", b["max"] + 3)
    before = R.counts(d, *UPDATE)
    p = R.once(dm, "--mode", "enforce", env={"BSUP_FAILPOINT": "reconcile-after-intent"})
    if p.returncode != 86:
        has_failpoints = False
        print("skip crash tests: this build has no failpoints (BSUP_FAILPOINTS=OFF)")
    if has_failpoints:
        check(R.counts(d, *UPDATE) == before, "died before the call: no mutation")
        p = R.once(dm, "--mode", "enforce")
        check(p.returncode == 0 and R.counts(d, *UPDATE) == before + 1,
              f"after restart: applied once ({p.returncode})")
        check(R.group(d, gb)[1] == b["max"], "and the group is right")
        R.drift(d, gb, "asg-max", b["max"] + 4)
        before = R.counts(d, *UPDATE)
        p = R.once(dm, "--mode", "enforce", env={"BSUP_FAILPOINT": "reconcile-after-call"})
        check(p.returncode == 86 and R.counts(d, *UPDATE) == before + 1,
              "died after the call: the change reached AWS, the outcome did not reach the journal")
        p = R.once(dm, "--mode", "enforce")
        check(p.returncode == 0 and R.counts(d, *UPDATE) == before + 1,
              f"after restart: observed in sync, not repeated ({p.returncode})")
        check("re-checked by observation" in p.stderr, "the unfinished intent is reported")
        check(R.group(d, gb)[1] == b["max"], "final state right")

    # Rails fail closed: with the state database failing (failpoint), enforce mode sends
    # nothing and the daemon says it is unhealthy; once the store answers, it corrects.
    if has_failpoints:
        R.drift(d, gb, "asg-max", b["max"] + 6)
        before = R.counts(d, *UPDATE)
        for fp in ("store-memory-read", "store-journal-write"):
            ds = R.daemon(d, services, net, settings="mode: enforce\ninterval: 1d\ncooldown: 0s\n")
            ds.env["BSUP_FAILPOINT_ERROR"] = fp
            ds.start()
            ds.ctl("reconcile", b["name"], "--wait", expect=1)
            j = ds.ctl_json("status", expect=1)
            check(R.counts(d, *UPDATE) == before, f"{fp}: no mutating call reached AWS")
            check(j["daemon"]["healthy"] is False and "UNHEALTHY" in j["summary"]
                  and j["engine"]["store_errors"] >= 1, f"{fp}: status says unhealthy: {j['summary']}")
            row = [r for r in j["services"] if r["service"] == b["name"]][0]
            check(row["state"] == "error" and fp in (row["error"] or ""),
                  f"{fp}: the service says why: {row['state']} {row['error']}")
            ds.stop()
        p = R.once(dm, "--mode", "enforce")
        check(p.returncode == 0 and R.counts(d, *UPDATE) == before + 1,
              f"store back: corrected once ({p.returncode})")

    # Fight detection: someone keeps putting the drift back; bsupd stops after N corrections.
    df = R.daemon(d, services, net, settings="mode: enforce\ninterval: 1d\ncooldown: 0s\n"
                  "fight_threshold: 3\n")
    df.start()
    before = R.counts(d, *UPDATE)
    for i in range(5):
        R.drift(d, ga, "asg-max", a["max"] + 7)
        df.ctl("reconcile", a["name"], "--wait", expect=None)
    st = df.ctl_json("status", a["name"], expect=1)["services"][0]
    check(st["state"] == "fighting", f"fighting after 3 corrections: {st['state']}")
    check(R.counts(d, *UPDATE) - before == 3, f"corrected 3 times, then stopped: "
          f"{R.counts(d, *UPDATE) - before}")
    ev = df.ctl_json("events", "--service", a["name"])["events"]
    check(any(e["kind"] == "service.fighting" for e in ev), "an alert-worthy fighting event")
    plan = df.ctl("plan", a["name"], expect=1).stdout
    check("fighting" in plan, "plan says why it holds back")

    # A restart: until its first cycle of a service, status shows what the last cycle
    # recorded (marked so), and asks for attention as it did; that cycle then replaces it.
    before = [e["kind"] for e in df.ctl_json("events", "--service", a["name"])["events"]]
    df.stop()
    df.start()
    j = df.ctl_json("status", expect=1)
    rows = {r["service"]: r for r in j["services"]}
    st = rows[a["name"]]
    check(st["state"] == "fighting" and st["recorded"] is True and st["last_reconciled_at"]
          and st["scaling"] and st["scaling"]["found"] is True,
          f"the recorded state and observations after a restart: {st}")
    check(j["attention"] is True and "as recorded before the start" in j["summary"],
          f"attention and summary from the record: {j['attention']} {j['summary']}")
    table = df.ctl("status", expect=1).stdout
    check("fighting*" in table and "not reconciled since" in table, f"table marks it: {table}")
    R.drift(d, ga, "asg-max", a["max"])  # the other party gives up: converged, fight forgotten
    df.ctl("reconcile", a["name"], "--wait", expect=0)
    st = df.ctl_json("status", a["name"])["services"][0]
    check(st["state"] == "ok" and st["recorded"] is False, f"converged: {st['state']}")
    kinds = [e["kind"] for e in df.ctl_json("events", "--service", a["name"])["events"]]
    check(kinds.count("service.fighting") == before.count("service.fighting") and
          kinds.count("service.state") == before.count("service.state") + 1,
          f"the record was that cycle's before: one state event, fighting not again: {kinds}")
    df.stop()

    # A service throttled all along does not delay the others: each keeps its own 10 s cycle
    # while the throttled one fails, says why and backs off (20 s, 40 s, ...). Waits on what the
    # daemon records (every cycle stamps the service's last_reconciled_at), not on a clock: by
    # the time each of the others has 3 cycles, the throttled one must have fewer; were the
    # others held to its pace, they could not get ahead of it.
    dt = R.daemon(d, services, net, settings="interval: 10s\njitter: 0s\n")
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "throttle", "service": "autoscaling", "request_contains": ga}]})
    dt.start()
    stamps = {}  # service -> the distinct last_reconciled_at seen, one per cycle
    rows = {}

    def others_cycled():
        rows.clear()
        rows.update({r["service"]: r for r in dt.ctl_json("status", expect=None)["services"]})
        for name, row in rows.items():
            if row.get("last_reconciled_at"):
                stamps.setdefault(name, set()).add(row["last_reconciled_at"])
        return (rows[a["name"]]["state"] == "error" and
                all(len(stamps.get(s["name"], ())) >= 3 for s in (b, c)))

    R.bsuptest.poll(others_cycled, lambda: "3 cycles of the others and an error on the "
                    f"throttled one: cycles {[(k, len(v)) for k, v in stamps.items()]}, "
                    f"{a['name']} {rows.get(a['name'], {}).get('state')}")
    n = {k: len(v) for k, v in stamps.items()}
    print(f"cycles seen: {n}; {a['name']} failures {rows[a['name']]['failures']}")
    check(all(n[a["name"]] < n[s["name"]] for s in (b, c)),
          f"the others kept their own cycles, ahead of the throttled one: {n}")
    check(all(rows[s["name"]]["state"] == "ok" for s in (b, c)),
          f"and were not caught in its throttling: {[rows[s['name']]['state'] for s in (b, c)]}")
    check("Throttling" in (rows[a["name"]]["error"] or ""),
          f"the throttled one reports it: {rows[a['name']]['state']} {rows[a['name']]['error']}")
    check(rows[a["name"]]["failures"] >= 1, "and backs off")
    testlib.control(faults, "DELETE", "rules")
    dt.stop()
    check(dt.integrity() == "ok", "database consistent")

finish()
