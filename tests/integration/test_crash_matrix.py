#!/usr/bin/env python3
"""Crash matrix: bsupd is killed (-9) in enforce mode at every failpoint of the apply path and
at random moments, 20 runs and more; each run drifts every group, kills a cycle, then lets
bsupd recover until the groups are right. The fault proxy counts UpdateAutoScalingGroup:
exactly one per drifted group per run — never a duplicated change, never a lost one. The
unknown-outcome rail (a change whose outcome a dead bsupd never recorded counts for the
cooldown) is what keeps a change still in flight from being sent again."""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "scripts", "localaws.d"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

UPDATE = ("autoscaling", "UpdateAutoScalingGroup")
RUNS = int(os.environ.get("BSUP_CRASH_RUNS", "22"))
FAILPOINTS = ["reconcile-after-intent", "reconcile-after-call"]

with testlib.environment("--faults") as d:
    import seed as seedmod  # the seeded environment's own boto3 clients, straight at moto
    services, net = R.seed(d, 3)
    groups = [f"{s['name']}-{s['env']}" for s in services]
    aws = seedmod.Aws(d)
    # Cooldown 2 s: longer than any change can stay in flight here, short enough to recover.
    # The test itself puts the drift back run after run: fight detection must not stop it.
    dm = R.daemon(d, services, net,
                  settings="mode: enforce\ncooldown: 2s\nfight_threshold: 100\n")
    rng = random.Random(20261201)

    def drift(run):
        for s, g in zip(services, groups):
            aws.autoscaling.update_auto_scaling_group(AutoScalingGroupName=g,
                                                      MaxSize=s["max"] + 1 + run % 5)

    def right():
        got = aws.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=groups)
        have = {g["AutoScalingGroupName"]: g["MaxSize"] for g in got["AutoScalingGroups"]}
        return all(have[g] == s["max"] for s, g in zip(services, groups))

    has_failpoints = True
    R.once(dm)  # converge before counting
    kinds = {}
    for run in range(RUNS):
        drift(run)
        before = R.counts(d, *UPDATE)
        how = FAILPOINTS[run % 2] if has_failpoints and run < 8 else "random"
        env = dict(dm.env)
        if how == "random":
            p = subprocess.Popen(dm.argv() + ["--once"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            try:
                p.wait(timeout=rng.uniform(0.05, 0.8))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
        else:
            env["BSUP_FAILPOINT"] = how
            # The previous run's correction may still be in its cooldown (the change is held,
            # nothing is sent, exit 1): try again until the cycle reaches the failpoint.
            deadline = time.monotonic() + 30
            while True:
                p = subprocess.run(dm.argv() + ["--once"], env=env, capture_output=True,
                                   timeout=120)
                if p.returncode != 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            if p.returncode != 86 and run == 0:
                print("this build has no failpoints (BSUP_FAILPOINTS=OFF): random kills only")
                has_failpoints = False
            else:
                check(p.returncode == 86, f"run {run}: died at {how} ({p.returncode})")
        kinds[how] = kinds.get(how, 0) + 1
        # Recover: --once until nothing is left to do (held by the cooldown meanwhile).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if R.once(dm).returncode == 0:
                break
            time.sleep(0.25)
        updates = R.counts(d, *UPDATE) - before
        check(right(), f"run {run} ({how}): every group right after recovery")
        check(updates == len(groups),
              f"run {run} ({how}): {updates} UpdateAutoScalingGroup for {len(groups)} drifted groups")
    print(f"figure: {RUNS} crash runs ({kinds}), {len(groups)} groups each: "
          "exactly one change per drifted group in every run")
    check(dm.integrity() == "ok", "database consistent after every kill")

finish()
