#!/usr/bin/env python3
"""Restore drills share two slots fleet-wide, and only drills that can run hold one: a service
in observe mode (which never restores) and a service removed from the drop-ins (whose leftover
instance the sweep deletes) leave theirs to the others. A drill's result survives bsupd killed
(-9) right after its instance's DeleteDBInstance went out: the next bsupd records it as it was,
neither lost nor restored again. A leftover instance the sweep may not delete (paused) is a
`drill.orphaned` event. Against the local AWS (moto behind the fault proxy, which holds
restores at `creating` and stalls the delete's answer)."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

NAMES = ["obs", "a", "b", "c"]
SCENARIO = "services:\n" + "".join(
    f"  - service_name: {n}\n    environment: dev\n    backup_retention: 7\n" for n in NAMES)
# moto restores at once: a drill's instance is held at `creating` by rewriting its status.
HOLD = {"service": "rds", "action": "DescribeDBInstances", "fault": "rewrite",
        "request_contains": "bsup-restore-",
        "replace": [["<DBInstanceStatus>available</DBInstanceStatus>",
                     "<DBInstanceStatus>creating</DBInstanceStatus>"]]}
DRILL = "backup: {restore_test: 7d}\n"

with testlib.environment("--faults") as d:
    env = R.aws_env(d)
    faults = env["BSUP_FAULTS_URL"]
    rds = R.moto(d, "rds")
    net = R.seed_scenario(d, SCENARIO, "--lean")["network"]
    svc = {n: dict(name=n, env="dev", min=2, max=4, type="t3.medium", retention=7) for n in NAMES}
    extra = {n: DRILL for n in NAMES}
    extra["obs"] = "mode: observe\n" + DRILL
    SETTINGS = "mode: enforce\ninterval: 1d\ncooldown: 0s\n"
    dm = R.daemon(d, [svc["obs"], svc["a"]], net, settings=SETTINGS, extra=extra)
    dm.start()

    def cycle(name):
        dm.ctl("reconcile", name, "--wait", expect=None)

    def backup(name):
        return [r for r in dm.ctl_json("status", expect=None)["services"]
                if r["service"] == name][0]["backup"]

    def declare(*names):
        for i, n in enumerate(NAMES):
            f = os.path.join(dm.conf, f"{i:04d}-{n}.yaml")
            if n in names:
                dm.write(os.path.basename(f), R.dropin(svc[n], net, extra[n]))
            elif os.path.exists(f):
                os.remove(f)
        dm.ctl("reload", expect=None)

    def instances():
        return {i["DBInstanceIdentifier"]: i["DBInstanceStatus"]
                for i in rds.describe_db_instances()["DBInstances"]
                if i["DBInstanceIdentifier"].startswith("bsup-restore-")}

    declare("obs", "a")
    testlib.control(faults, "PUT", "rules", {"rules": [HOLD]})
    for _ in range(2):  # scheduled (the name saved), then restored (obs: planned, not run)
        cycle("obs")
        cycle("a")
    check(backup("obs")["drill"] == "restore-due" and backup("a")["drill"] == "restoring",
          f"obs's drill is planned only, a's restores: {backup('obs')['drill']} "
          f"{backup('a')['drill']}")
    check([k for k in instances() if "-obs-" in k] == [], "observe mode restores nothing")

    # ---- an observe-mode drill never runs: it holds no slot ----
    declare("obs", "a", "b")
    cycle("b")
    check(backup("b")["drill"] == "scheduled",
          f"b's drill is scheduled beside a's, obs's does not count: {backup('b')['drill']}")
    cycle("b")
    check(backup("b")["drill"] == "restoring", f"b restores: {backup('b')['drill']}")

    # ---- a removed service's drill holds no slot; the sweep deletes its instance ----
    a_id = backup("a")["drill_instance"]
    declare("obs", "b", "c")
    cycle("c")
    check(backup("c")["drill"] == "scheduled",
          f"c's drill is scheduled: a's, its service removed, does not count: "
          f"{backup('c')['drill']}")
    R.bsuptest.poll(lambda: instances().get(a_id) in (None, "deleting"),
                    lambda: f"the sweep deletes the removed service's drill instance: "
                            f"{instances()} {dm.logtext()}", timeout_s=60)
    check(any(a_id in e["message"] for e in dm.ctl_json("events")["events"]
              if e["kind"] == "drill.deleted"), "drill.deleted says so")

    # ---- kill -9 right after the drill instance's DeleteDBInstance: the result stands ----
    restores = R.counts(d, "rds", "RestoreDBInstanceFromDBSnapshot")
    b_id = backup("b")["drill_instance"]
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "rds", "action": "DeleteDBInstance", "fault": "stall", "stall_s": 60,
         "count": 1}]})
    dm.ctl("reconcile", "b", expect=None)  # available now: done, and its deletion goes out

    def delete_sent():
        log = testlib.control(faults, "GET", "log")["entries"]
        return (any(e["action"] == "DeleteDBInstance" for e in log)
                and b_id not in instances())

    R.bsuptest.poll(delete_sent, lambda: f"the delete reached AWS: {instances()}", timeout_s=60)
    dm.proc.send_signal(signal.SIGKILL)
    dm.proc.wait(timeout=15)
    testlib.control(faults, "DELETE", "rules")
    dm.start()
    cycle("b")
    cycle("b")
    b = backup("b")
    check(b["last_drill"] == "ok" and b["drill"] == "idle",
          f"the drill's result survived the kill: {b['drill']} {b['last_drill']} "
          f"{b['last_drill_why']}")
    check(R.counts(d, "rds", "RestoreDBInstanceFromDBSnapshot") == restores
          and b_id not in instances(), f"nothing restored again: {instances()}")

    # ---- a leftover drill instance the sweep may not delete is said in an event ----
    cycle("c")  # this run's first: c's drill was scheduled by the one killed
    cycle("c")
    c_id = backup("c")["drill_instance"]
    check(c_id in instances(), f"c's drill restores: {backup('c')['drill']} {instances()}")
    dm.ctl("pause", expect=0)
    declare("obs", "b")

    def orphaned():
        return [e["message"] for e in dm.ctl_json("events")["events"]
                if e["kind"] == "drill.orphaned"]

    R.bsuptest.poll(lambda: orphaned(), lambda: f"a drill.orphaned event: {dm.logtext()}",
                    timeout_s=60)
    check(any(c_id in m and "left running: not deleted while paused" in m for m in orphaned())
          and c_id in instances(), f"paused: c's instance is kept, and said so: {orphaned()}")
    dm.stop()

finish()
