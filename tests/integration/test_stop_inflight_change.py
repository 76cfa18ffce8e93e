#!/usr/bin/env python3
"""A stop that cancels a change in flight: the fault proxy holds UpdateAutoScalingGroup past
the 10 s stop deadline and then forwards it, so it lands after bsupd has gone. The journal
must say its outcome is unknown, not that it failed, and the bsupd started next must hold the
group (unknown-outcome, for the cooldown) instead of sending the change a second time."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "scripts", "localaws.d"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

UPDATE = ("autoscaling", "UpdateAutoScalingGroup")
HELD_S = 16  # the proxy holds the change this long: past the 10 s stop deadline

with testlib.environment("--faults") as d:
    services, net = R.seed(d, 1)
    s = services[0]
    g = f"{s['name']}-{s['env']}"
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    R.drift(d, g, "asg-max", s["max"] + 3)
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"fault": "latency", "latency_ms": HELD_S * 1000, "service": "autoscaling",
         "action": "UpdateAutoScalingGroup"}]})
    testlib.control(faults, "DELETE", "counts")
    settings = "mode: enforce\ninterval: 1d\ncooldown: 5m\n"
    dm = R.daemon(d, services, net, settings=settings)
    dm.start()
    dm.ctl("reconcile")
    R.bsuptest.poll(lambda: R.counts(d, *UPDATE) == 1, "the change to reach the proxy")
    rc, took_s = dm.stop(sig=signal.SIGTERM, timeout_s=30)
    check(rc == 0, f"stopped: exit {rc} after {took_s:.1f}s")

    # The next bsupd, while the cancelled change is still on its way: held, not sent again.
    dn = R.daemon(d, services, net, settings=settings)
    dn.state = dm.state
    dn.start()
    dn.ctl("reconcile", "--wait", expect=1)
    check(R.counts(d, *UPDATE) == 1, f"the change was not sent again: {R.counts(d, *UPDATE)}")
    ev = dn.ctl_json("events", "--service", s["name"])["events"]
    failed = [e["message"] for e in ev if e["kind"] == "action.failed"]
    check(failed and "outcome unknown: it may have reached AWS" in failed[-1],
          f"the cancelled change is said to be of unknown outcome: {failed}")
    plan = dn.ctl("plan", s["name"], expect=None).stdout
    check("held: unknown outcome" in plan, "held for its unknown outcome:\n" + plan)
    # It did land: the next observation sees the group right.
    testlib.control(faults, "DELETE", "rules")
    R.bsuptest.poll(lambda: R.group(d, g)[1] == s["max"], "the held change to land",
                    timeout_s=HELD_S + 30)
    dn.stop()
    check(dn.integrity() == "ok", "database consistent")
finish()
