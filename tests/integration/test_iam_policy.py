#!/usr/bin/env python3
"""etc/iam-policy.json, the policy docs/operations.md ("AWS permissions") gives bsupd, grants
every action bsupd calls and nothing else, and it is enough. Against the local AWS (moto
authorizes every signed call against the caller's IAM policies) bsupd runs as a user holding
only the policy's observe statements, in observe mode: it reads every domain and publishes
its metrics and an alert. As a user holding every statement, in enforce mode, it corrects
drift, keeps its own alarms and runs a restore drill. Neither is refused a call. Holding the
read statement alone, enforce mode is refused its change: the check that moto enforces, so
the other two can fail.

moto differs from AWS in two ways the test bridges: it names CloudWatch's actions by the
signing name (`monitoring:PutMetricData`, not `cloudwatch:`), and it authorizes every call
against resource "*", so the policy's resource scoping (bsup-* alarms, bsup-restore-*
instances) is widened for it and is not checked here."""
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

SRC = os.environ.get("BSUP_SRCDIR", ".")
with open(os.path.join(SRC, "etc", "iam-policy.json")) as f:
    POLICY = json.load(f)
OBSERVE = ("BsupObserve", "BsupMetricsAndAlerts")
ENFORCE = ("BsupEnforce", "BsupOwnAlarms", "BsupRestoreDrills", "BsupRestoreDrillInstances")

# ---- the policy's actions are the operations bsupd calls (tools/gen_aws_model.py) ----
spec = importlib.util.spec_from_file_location("gen", os.path.join(SRC, "tools", "gen_aws_model.py"))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
PREFIX = {"elbv2": "elasticloadbalancing"}  # IAM's prefix where it is not the service's name
# Not bsupd's identity's to hold: STS for the credential chain is granted on the role and its
# source; GetCallerIdentity needs no permission; GetSecretValue and GetParameter are in the
# model for the tests' AWS client only (bsupd never reads a password: test_backup).
NOT_GRANTED = {"sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:GetCallerIdentity",
               "secretsmanager:GetSecretValue", "ssm:GetParameter"}
# Authorized by AWS beside the call that needs it: the tags given when a resource is made.
IMPLIED = {"cloudwatch:TagResource", "rds:AddTagsToResource"}
called = {f"{PREFIX.get(s, s)}:{a}" for s, a, _ in gen.OPERATIONS}
granted = {}
for st in POLICY["Statement"]:
    check(st.get("Effect") == "Allow" and st.get("Sid") in OBSERVE + ENFORCE,
          f"a statement bsup documents: {st.get('Sid')} {st.get('Effect')}")
    for a in st["Action"]:
        check(a not in granted, f"{a} is granted once ({granted.get(a)}, {st['Sid']})")
        granted[a] = st["Sid"]
want = (called - NOT_GRANTED) | IMPLIED
check(set(granted) == want, f"the policy grants what bsupd calls: missing "
      f"{sorted(want - set(granted))}, never called {sorted(set(granted) - want)}")
changes = {f"{PREFIX.get(s, s)}:{a}" for s, a, family in gen.OPERATIONS
           if family.endswith("_mutate") or family == "cloudwatch_put_metric_alarm"} | {
    "rds:ModifyDBInstance", "rds:RestoreDBInstanceFromDBSnapshot", "rds:DeleteDBInstance"}
check(all(granted[a] in ENFORCE for a in changes),
      f"observe statements change no service: {[(a, granted[a]) for a in changes]}")
with open(os.path.join(SRC, "docs", "operations.md")) as f:
    ops = f.read()
check(all(sid in ops for sid in OBSERVE + ENFORCE), "docs/operations.md explains each statement")

SCENARIO = """services:
  - {service_name: pay, environment: prod, min_size: 2, max_size: 4, backup_retention: 7}
"""


def moto_policy(sids):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": st["Sid"], "Effect": "Allow", "Resource": "*",
         "Action": [a.replace("cloudwatch:", "monitoring:", 1) for a in st["Action"]]}
        for st in POLICY["Statement"] if st["Sid"] in sids]})


with testlib.environment("--faults") as d:
    env = R.aws_env(d)
    faults = env["BSUP_FAULTS_URL"]
    iam = R.moto(d, "iam")
    topic = R.moto(d, "sns").create_topic(Name="bsup-iam-alerts")["TopicArn"]
    net = R.seed_scenario(d, SCENARIO, "--no-drift")["network"]
    svc = dict(name="pay", env="prod", min=2, max=4, type="t3.medium", retention=7)

    def identity(name, sids):
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="bsupd", PolicyDocument=moto_policy(sids))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def daemon(mode, keys, extra=""):
        dm = R.daemon(d, [svc], net, extra={"pay": extra}, settings=(
            f"mode: {mode}\ninterval: 1d\ncooldown: 0s\nmetrics:\n  interval: 1s\n"
            f"alerts:\n  sns_topic_arn: {topic}\n  reminder: 0s\n"))
        dm.env.update(keys)
        return dm.start()

    def sent(dm):
        """Waits until bsupd's metrics and alerts have gone out."""
        def empty():
            m = dm.ctl_json("status", expect=None)["daemon"]["metrics"]
            return m["outbox_depth"] == 0 and m["alerts_waiting"] == 0 and m["requests"] > 0
        R.bsuptest.poll(empty, lambda: f"metrics sent: {dm.ctl_json('status', expect=None)}",
                        timeout_s=60)

    def calls_since(start):
        """{(service, action): [statuses]} of the calls the proxy passed since log index start."""
        out = {}
        for e in testlib.control(faults, "GET", f"log?since={start}")["entries"]:
            out.setdefault((e["service"], e["action"]), []).append(e["status"])
        return out

    def refused(calls):
        return sorted(f"{s}:{a}" for (s, a), st in calls.items() if 403 in st)

    # ---- enforce: every statement; drift corrected, a restore drill run and deleted ----
    R.drift(d, "pay-prod", "asg-max", 6)
    R.drift(d, "pay-prod", "hc-path", "/")
    R.drift(d, "pay-prod", "backup-retention", 3)
    start = testlib.control(faults, "GET", "log")["next"]
    dm = daemon("enforce", identity("bsup-enforce", OBSERVE + ENFORCE),
                "backup: {restore_test: 7d}\n")
    for _ in range(4):  # corrected and the drill scheduled, restored, checked, deleted
        dm.ctl("reconcile", "--wait", expect=None)
    dm.stop()
    calls = calls_since(start)
    check(refused(calls) == [], f"enforce mode is refused nothing: {refused(calls)}")
    for need in (("autoscaling", "UpdateAutoScalingGroup"),
                 ("elasticloadbalancing", "ModifyTargetGroup"), ("rds", "ModifyDBInstance"),
                 ("monitoring", "PutMetricAlarm"), ("rds", "RestoreDBInstanceFromDBSnapshot"),
                 ("rds", "DeleteDBInstance")):
        check(need in calls, f"enforce mode called {need}: {sorted(calls)}")

    # ---- observe: the observe statements are enough ----
    # the snapshots go only now: the drill above restores from one
    R.drift(d, "pay-prod", "asg-max", 6)
    R.drift(d, "pay-prod", "snapshot-delete")
    start = testlib.control(faults, "GET", "log")["next"]
    dm = daemon("observe", identity("bsup-observe", OBSERVE))
    dm.ctl("reconcile", "--wait", expect=None)
    sent(dm)
    st = dm.ctl_json("status", expect=None)
    dm.stop()
    calls = calls_since(start)
    check(refused(calls) == [], f"observe mode is refused nothing: {refused(calls)}")
    for need in (("autoscaling", "DescribeAutoScalingGroups"),
                 ("elasticloadbalancing", "DescribeTargetGroups"), ("rds", "DescribeDBSnapshots"),
                 ("ssm", "DescribeParameters"), ("monitoring", "DescribeAlarms"),
                 ("monitoring", "PutMetricData"), ("sns", "Publish")):
        check(need in calls, f"observe mode called {need}: {sorted(calls)}")
    row = st["services"][0]
    check(row["state"] != "ok" and st["daemon"]["metrics"]["alerts_sent"] >= 1,
          f"drift is seen and the missing backup paged: {row['state']} {st['daemon']['metrics']}")
    check(not [c for c in calls if c in (("autoscaling", "UpdateAutoScalingGroup"),
                                         ("monitoring", "PutMetricAlarm"))],
          f"observe mode changes nothing, its alarms included: {sorted(calls)}")

    # ---- the read statement alone: enforce mode's change is refused ----
    R.drift(d, "pay-prod", "asg-max", 8)
    start = testlib.control(faults, "GET", "log")["next"]
    dm = daemon("enforce", identity("bsup-readonly", OBSERVE[:1]))
    dm.ctl("reconcile", "--wait", expect=None)
    row = dm.ctl_json("status", expect=None)["services"][0]
    dm.stop()
    calls = calls_since(start)
    check("autoscaling:UpdateAutoScalingGroup" in refused(calls),
          f"moto refuses what the policy does not grant: {sorted(calls.items())}")
    check(row["state"] == "error" and "UpdateAutoScalingGroup: AccessDenied" in row["error"]
          and "bsup-readonly" in row["error"],
          f"status names the call, AWS's answer and who: {row}")

finish()
