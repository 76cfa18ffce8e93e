#!/usr/bin/env python3
"""The backup domain against the local AWS (moto behind the fault proxy): RDS retention drift
reported in observe mode and corrected in enforce mode; backups turned off in prod only
reported unless backup.allow_disruptive; a stale, a missing and an unencrypted snapshot
reported; the database's and the cache's stale snapshots alerted apart (SNS into an SQS
queue): each opens once, one clearing does not close the other, and a restart while stale
sends nothing; the password secret checked without ever reading a value; a restore drill run
to completion and its instance deleted; a drill killed with kill -9 cleaned up after restart;
a failed drill degrades the service; and the RDS calls one cycle makes at 100 services."""
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

SCENARIO = """services:
  - service_name: api
    environment: prod
    backup_retention: 7
    cache: {snapshot_retention: 1}
  - service_name: ops
    environment: prod
    backup_retention: 7
  - service_name: web
    environment: dev
    backup_retention: 7
"""
MISSING_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bsup/nope/db-AbCdEf"
# Every rule set keeps this tripwire: a request carrying WithDecryption would match it.
TRIPWIRE = {"fault": "latency", "latency_ms": 0, "request_contains": "WithDecryption"}
HOUR = datetime.timedelta(hours=1)
HOLD = {"service": "rds", "action": "DescribeDBInstances", "fault": "rewrite",
        "request_contains": "bsup-restore-"}


def tail(dm):
    return dm.logtext()[-1500:]


with testlib.environment("--faults") as d:
    env = R.aws_env(d)
    faults = env["BSUP_FAULTS_URL"]
    moto = testlib.Cli(d, AWS_ENDPOINT_URL=env["BSUP_MOTO_URL"])  # setup and checks: uncounted
    tripped = [0]

    def rules(*extra):
        """Replaces the proxy's rules, keeping the tripwire (and its count)."""
        for r in testlib.control(faults, "GET", "rules").get("rules", []):
            if r.get("request_contains") == "WithDecryption":
                tripped[0] += r.get("matched", 0)
        testlib.control(faults, "PUT", "rules", {"rules": [TRIPWIRE, *extra]})

    rules()
    # Alerts go to an SNS topic whose SQS queue the test reads (moto delivers inside Publish).
    sns, sqs = R.moto(d, "sns"), R.moto(d, "sqs")
    cw = R.moto(d, "cloudwatch")
    topic = sns.create_topic(Name="bsup-backup-alerts")["TopicArn"]
    qurl = sqs.create_queue(QueueName="bsup-backup-alerts")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sqs.get_queue_attributes(
        QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    ALERTING = (f"metrics:\n  interval: 1s\nalerts:\n  sns_topic_arn: {topic}\n"
                "  reminder: 0s\n  recovery_hold: 0s\n")  # recoveries at once
    seeded = R.seed_scenario(d, SCENARIO)
    net = seeded["network"]
    arn = {n: seeded["services"][f"{n}-{e}"]["secret_arn"]
           for n, e in (("api", "prod"), ("ops", "prod"))}
    # ops's secret rotates (moto needs no Lambda for it); web's password is a SecureString.
    p = moto("secretsmanager", "rotate-secret", "--secret-id", arn["ops"],
             "--rotation-rules", "AutomaticallyAfterDays=30")
    check(p.returncode == 0, f"rotate ops's secret: {p.stderr[-300:]}")
    p = moto("ssm", "put-parameter", "--name", "/web/db", "--type", "SecureString",
             "--value", "not-read-by-bsupd")
    check(p.returncode == 0, f"web's parameter: {p.stderr[-300:]}")
    # plain: an unencrypted instance of its own (a fresh automated snapshot, unencrypted).
    p = moto("rds", "create-db-instance", "--db-instance-identifier", "plain-prod",
             "--db-instance-class", "db.t3.micro", "--engine", "postgres",
             "--allocated-storage", "20", "--db-name", "plain", "--master-username", "plain_admin",
             "--master-user-password", "x" * 16, "--backup-retention-period", "7",
             "--no-storage-encrypted")
    check(p.returncode == 0, f"plain-prod created: {p.stderr[-300:]}")

    def svc(name, env_, retention=7):
        return dict(name=name, env=env_, min=2, max=4, type="t3.medium", retention=retention)

    services = [svc("api", "prod"), svc("ops", "prod"), svc("web", "dev"), svc("plain", "prod")]
    passwords = {"api": f"secretsmanager:{arn['api']}", "ops": f"secretsmanager:{arn['ops']}",
                 "web": "ssm:/web/db", "plain": f"secretsmanager:{MISSING_SECRET}"}
    # plain has no Auto Scaling group of its own: it names web's (the same bounds).
    plain_asg = "resources: {auto_scaling_group: web-dev}\n"
    extras = {"api": "cache: {snapshot_retention: 1}\n", "plain": plain_asg}

    def dropins(dm, extra=None):
        for i, s in enumerate(services):
            text = R.dropin(s, net, (extra or {}).get(s["name"], extras.get(s["name"], "")))
            text = text.replace(f"database_password: ssm:/{s['name']}/db\n",
                                f"database_password: {passwords[s['name']]}\n")
            dm.write(f"{i:04d}-{s['name']}.yaml", text)

    def daemon(mode, extra=None, settings=""):
        dm = R.daemon(d, services, net,
                      settings=f"mode: {mode}\ninterval: 1d\ncooldown: 0s\n{settings}")
        dropins(dm, extra)  # the same files, with each service's password and extra keys
        dm.start()
        return dm

    def row(dm, name):
        return [r for r in dm.ctl_json("status", expect=None)["services"]
                if r["service"] == name][0]

    def changes(dm, name):
        """(action, resource, field, observed, desired) of the service's plan (bsupd's own
        alarms aside: test_alarms.py)."""
        out = []
        for s in dm.ctl_json("plan", name, expect=None)["services"]:
            for a in s["actions"]:
                for c in [] if a.get("owned") else a["changes"]:
                    out.append((a["action"], a["resource"], c["field"], c["observed"],
                                c["desired"]))
        return out

    def drill_cell(dm, name):
        """The DRILL cell of bsupctl status's row for name."""
        lines = dm.ctl("status", expect=None).stdout.splitlines()
        head = next(ln for ln in lines if ln.startswith("SERVICE"))
        line = [ln for ln in lines if ln.startswith(name + " ")][0]
        return line[head.index("DRILL"):].strip()

    def has(dm, name, action, field, resource=None):
        return any(a == action and f == field and (resource is None or r == resource)
                   for a, r, f, _, _ in changes(dm, name))

    def events(dm, name, kind):
        return [e["message"] for e in dm.ctl_json("events", "--service", name)["events"]
                if e["kind"] == kind]

    bodies = []  # every alert's Message, as delivered

    def sent(dm):
        """(service, what) of every alert SNS delivered since the last call, once bsupd's
        alert outbox is empty."""
        R.bsuptest.poll(lambda: dm.ctl_json("status", expect=None)["daemon"]["metrics"]
                        ["alerts_waiting"] == 0,
                        lambda: f"alerts published: {dm.ctl_json('status')['daemon']['metrics']}",
                        timeout_s=60)
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                body = json.loads(json.loads(m["Body"])["Message"])
                bodies.append(body)
                out.append((body.get("service"), body.get("what")))
                sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])

    def backup_alerts(got, name="api"):
        """name's backup alerts among got, in order."""
        return [w for s, w in got if s == name and "backup" in w]

    def count(action):
        return R.counts(d, "rds", action)

    def drift(name, what, value=None):
        R.drift(d, name, what, value)

    def cycle(dm, name=None):
        dm.ctl("reconcile", *([name] if name else []), "--wait", expect=None)

    # ---- observe mode: findings, and retention drift reported, never changed ----
    dm = daemon("observe")
    cycle(dm)
    api = row(dm, "api")
    check(api["state"] == "ok", f"findings leave the state alone: api {api['state']} {api['error']}")
    b = api["backup"]
    check(b["found"] and b["retention_ok"] and b["newest_backup_age_s"] >= 0
          and b["snapshot_encrypted"], f"api's backups observed: {b}")
    check(b["cache"] == "found" and b["cache_at_rest_encrypted"], f"api's cache: {b}")
    check(has(dm, "api", "finding", "DeletionProtection"), "prod without deletion protection")
    check(has(dm, "api", "finding", "RotationEnabled") and has(dm, "api", "finding",
                                                               "LastRotatedDate"),
          f"prod secret without rotation: {changes(dm, 'api')}")
    check(not any(f in ("RotationEnabled", "LastRotatedDate", "Secret")
                  for _, _, f, _, _ in changes(dm, "ops")), f"ops rotates: {changes(dm, 'ops')}")
    check(has(dm, "plain", "finding", "Secret", f"secret/{MISSING_SECRET.split(':secret:')[1]}"),
          f"a missing secret: {changes(dm, 'plain')}")
    check(has(dm, "plain", "finding", "StorageEncrypted")
          and has(dm, "plain", "finding", "SnapshotEncrypted"),
          f"unencrypted storage and snapshot (prod: encryption required): {changes(dm, 'plain')}")
    check(not any(f.endswith("Encrypted") for _, _, f, _, _ in changes(dm, "web")),
          f"dev: encryption not required by default: {changes(dm, 'web')}")
    check(not changes(dm, "web"), f"web is as declared: {changes(dm, 'web')}")
    check(any("RotationEnabled" in m for m in events(dm, "api", "finding.appeared")),
          "a finding.appeared event")
    table = dm.ctl("status", expect=None).stdout
    print(table)
    check(table.splitlines()[0].endswith("4 services, 0 drift, 0 degraded, last cycle 0s ago")
          or " 4 services, 0 drift, 0 degraded" in table.splitlines()[0],
          f"four services, none degraded: {table.splitlines()[0]}")
    lines = table.splitlines()
    check(all(len(line) <= 100 for line in lines), "status within 100 columns")
    head = next((ln for ln in lines if ln.startswith("SERVICE")), "")
    check("BACKUP" in head and "DRILL" in head, f"backup columns: {head}")
    text = dm.ctl("plan", "plain", expect=None).stdout
    check("finding rds-instance/plain-prod" in text and "StorageEncrypted" in text,
          f"bsupctl plan shows the findings:\n{text}")

    drift("web-dev", "backup-retention", 3)
    cycle(dm)
    web = row(dm, "web")
    check(web["state"] == "drift" and not web["backup"]["retention_ok"],
          f"observe mode: retention drift reported: {web['state']} {web['backup']}")
    check(("update", "rds-instance/web-dev", "BackupRetentionPeriod", "3", "7")
          in changes(dm, "web"), f"planned: {changes(dm, 'web')}")
    check(count("ModifyDBInstance") == 0, "observe mode changes nothing")
    dm.stop()

    # ---- enforce mode: retention corrected; backups off in prod only with allow_disruptive ----
    drift("ops-prod", "backups-off")
    dm = daemon("enforce", settings=ALERTING)
    cycle(dm)
    web = row(dm, "web")
    got = moto("rds", "describe-db-instances", "--db-instance-identifier", "web-dev").json
    check(count("ModifyDBInstance") == 1 and
          got["DBInstances"][0]["BackupRetentionPeriod"] == 7 and web["state"] == "corrected",
          f"enforce: retention corrected once: {count('ModifyDBInstance')} {web['state']}")
    check(any("ModifyDBInstance rds-instance/web-dev" in m
              for m in events(dm, "web", "action.applied")), "journaled and an event")
    ops = row(dm, "ops")
    check(("finding", "rds-instance/ops-prod", "BackupRetentionPeriod", "0 (backups off)", "7")
          in changes(dm, "ops") and ops["state"] == "ok",
          f"backups off in prod: a finding, not changed: {changes(dm, 'ops')}")
    got = moto("rds", "describe-db-instances", "--db-instance-identifier", "ops-prod").json
    check(got["DBInstances"][0]["BackupRetentionPeriod"] == 0 and count("ModifyDBInstance") == 1,
          "ops's backups stay off without allow_disruptive")
    dropins(dm, {"ops": "backup: {allow_disruptive: true}\n"})
    dm.ctl("reload", expect=None)
    cycle(dm)
    got = moto("rds", "describe-db-instances", "--db-instance-identifier", "ops-prod").json
    check(got["DBInstances"][0]["BackupRetentionPeriod"] == 7 and count("ModifyDBInstance") == 2,
          "with allow_disruptive: true backups are turned on")

    # ---- snapshots: stale (short max_age), missing ----
    dropins(dm, {"api": "backup: {max_age: 2s}\ncache: {snapshot_retention: 1}\n"})
    dm.ctl("reload", expect=None)
    time.sleep(3)
    drift("web-dev", "snapshot-delete")
    cycle(dm)
    stale = [c for c in changes(dm, "api") if c[2] == "AutomatedSnapshot"]
    check(stale and stale[0][0] == "finding" and stale[0][3].endswith(")")
          and "old" in stale[0][3] and stale[0][4] == "younger than 2s",
          f"a stale snapshot: {stale}")
    check(("finding", "rds-instance/web-dev", "AutomatedSnapshot", "none", "younger than 26h")
          in changes(dm, "web"), f"a missing snapshot: {changes(dm, 'web')}")
    check(row(dm, "web")["backup"]["newest_backup_age_s"] == -1, "status: no backup age")
    # Each is a backup.stale event (an alert: backup-stale), once.
    check(len(events(dm, "api", "backup.stale")) == 1 and len(events(dm, "web", "backup.stale")) == 1,
          f"backup.stale events: {events(dm, 'api', 'backup.stale')} "
          f"{events(dm, 'web', 'backup.stale')}")
    cycle(dm)
    check(len(events(dm, "api", "backup.stale")) == 1, "not again while it lasts")
    # api's cache has had no snapshot since the first cycle (moto takes none): its own event,
    # not a finding.appeared, and its own alert, which the database's did not swallow.
    cache_stale = events(dm, "api", "cache.backup_stale")
    check(len(cache_stale) == 1 and cache_stale[0].startswith("elasticache-group/api-prod "
                                                              "Snapshot: none"),
          f"one cache.backup_stale event: {cache_stale}")
    check(not any(m.startswith("elasticache-group/api-prod Snapshot")
                  for m in events(dm, "api", "finding.appeared")), "no finding.appeared for it")
    got = sent(dm)
    check(sorted(backup_alerts(got)) == ["backup-stale", "cache-backup-stale"]
          and backup_alerts(got, "web") == ["backup-stale"],
          f"one alert each, the database's and the cache's apart: {got}")
    stale = [b for b in bodies if b["service"] == "web" and b["what"] == "backup-stale"]
    check(stale and stale[-1]["observed"] == "none"
          and stale[-1]["desired"] == "younger than 26h",
          f"the alert says what was found and what is wanted: {stale}")

    # The cache: moto takes no snapshots; a manual one has no node times (its age is unknown).
    check(has(dm, "api", "finding", "Snapshot", "elasticache-group/api-prod"),
          "the cache has no snapshot")
    p = moto("elasticache", "create-snapshot", "--replication-group-id", "api-prod",
             "--snapshot-name", "api-manual")
    check(p.returncode == 0, f"a cache snapshot: {p.stderr[-200:]}")
    cycle(dm, "api")
    check(not has(dm, "api", "finding", "Snapshot", "elasticache-group/api-prod"),
          f"the cache snapshot is seen: {row(dm, 'api')['backup']['cache_snapshots']}")
    # The cache is fine again, the database is not: only the cache's condition closes.
    check(has(dm, "api", "finding", "AutomatedSnapshot"), "the database's snapshot still stale")
    check(len(events(dm, "api", "cache.backup_ok")) == 1 and not events(dm, "api", "backup.ok"),
          f"cache.backup_ok, no backup.ok: {events(dm, 'api', 'cache.backup_ok')} "
          f"{events(dm, 'api', 'backup.ok')}")
    got = sent(dm)
    check(backup_alerts(got) == ["cache-backup-ok"], f"only the cache's ok alert: {got}")
    # An old one (the answer rewritten to carry its nodes' time, which moto leaves out).
    old_cache = {"service": "elasticache", "action": "DescribeSnapshots", "fault": "rewrite",
                 "replace": [["<SnapshotStatus>available</SnapshotStatus>",
                              "<SnapshotStatus>available</SnapshotStatus><NodeSnapshots>"
                              "<NodeSnapshot><SnapshotCreateTime>2020-01-01T00:00:00Z"
                              "</SnapshotCreateTime></NodeSnapshot></NodeSnapshots>"]]}
    rules(old_cache)
    cycle(dm, "api")
    check(has(dm, "api", "finding", "Snapshot", "elasticache-group/api-prod"),
          f"a stale cache snapshot: {[c for c in changes(dm, 'api') if c[2] == 'Snapshot']}")
    cache_stale = events(dm, "api", "cache.backup_stale")
    check(len(cache_stale) == 2 and " old (want younger than 2s)" in cache_stale[-1],
          f"the cache stale again, a second event: {cache_stale}")
    got = sent(dm)
    check(backup_alerts(got) == ["cache-backup-stale"],
          f"the cache's condition opens again (the database's stays open, silent): {got}")
    # Its age went to CloudWatch too: CacheBackupAgeSeconds, at least since 2020.
    R.bsuptest.poll(lambda: dm.ctl_json("status", expect=None)["daemon"]["metrics"]
                    ["outbox_depth"] == 0,
                    lambda: f"datums published: {dm.ctl_json('status')['daemon']['metrics']}",
                    timeout_s=60)
    age = row(dm, "api")["backup"]["cache_newest_backup_age_s"]
    now = datetime.datetime.now(datetime.timezone.utc)
    points = cw.get_metric_statistics(
        Namespace="BSUP", MetricName="CacheBackupAgeSeconds", StartTime=now - HOUR,
        EndTime=now + HOUR, Period=60, Statistics=["Maximum"],
        Dimensions=[{"Name": "Service", "Value": "api"},
                    {"Name": "Environment", "Value": "prod"}])["Datapoints"]
    since_2020 = (now - datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()
    check(age >= since_2020 - 60 and points and
          max(p["Maximum"] for p in points) >= since_2020 - 60,
          f"CacheBackupAgeSeconds of api: status {age}, CloudWatch {points}")
    # Still stale across a restart (the condition is kept in the state database): nothing new.
    cycle(dm, "api")
    dm.stop()
    dm.start()
    # The new run's first cycle does not read the database's snapshots (refused here; with
    # many services, a paced read not come yet): the stale line stands as the last run
    # recorded it, never "backup ok" for want of a read.
    rules({"service": "rds", "action": "DescribeDBSnapshots", "fault": "status", "status": 400,
           "code": "AccessDenied"}, old_cache)
    cycle(dm, "api")
    check(has(dm, "api", "finding", "AutomatedSnapshot")
          and row(dm, "api")["backup"]["snapshots_read_at"] == 0,
          f"not read, still stale as recorded: {changes(dm, 'api')}")
    check(not events(dm, "api", "backup.ok"), f"no backup.ok: {events(dm, 'api', 'backup.ok')}")
    rules(old_cache)
    cycle(dm, "api")
    check(has(dm, "api", "finding", "Snapshot", "elasticache-group/api-prod")
          and has(dm, "api", "finding", "AutomatedSnapshot"), "both still stale after a restart")
    check(len(events(dm, "api", "cache.backup_stale")) == 2
          and len(events(dm, "api", "backup.stale")) == 1,
          f"no event again: {events(dm, 'api', 'cache.backup_stale')}")
    got = sent(dm)
    check(backup_alerts(got) == [], f"no alert again after the restart: {got}")
    # The database fine again (the default max_age, 26h), the cache not (its snapshot is of
    # 2020): backup-ok goes, and the cache's condition stays open...
    dropins(dm)
    dm.ctl("reload", expect=None)
    cycle(dm, "api")
    check(not has(dm, "api", "finding", "AutomatedSnapshot")
          and has(dm, "api", "finding", "Snapshot", "elasticache-group/api-prod"),
          f"the database's snapshot young enough, the cache's not: {changes(dm, 'api')}")
    check(len(events(dm, "api", "backup.ok")) == 1
          and len(events(dm, "api", "cache.backup_ok")) == 1,
          f"backup.ok, not cache.backup_ok: {events(dm, 'api', 'backup.ok')} "
          f"{events(dm, 'api', 'cache.backup_ok')}")
    got = sent(dm)
    check(backup_alerts(got) == ["backup-ok"], f"only the database's ok alert: {got}")
    # ... until its snapshot is undated again (the answer no longer rewritten): it closes too.
    rules()
    cycle(dm, "api")
    check(len(events(dm, "api", "cache.backup_ok")) == 2, "cache.backup_ok")
    got = sent(dm)
    check(backup_alerts(got) == ["cache-backup-ok"], f"the cache's ok alert: {got}")
    dm.ctl("reconcile", "--wait", expect=None)
    dm.stop()

    # ---- the restore drill, across cycles, to completion ----
    drill_extra = {"api": "cache: {snapshot_retention: 1}\n"
                          "backup: {restore_test: 7d, restore_instance_class: db.t3.micro}\n"}
    dm = daemon("enforce", drill_extra)
    rules(dict(HOLD, replace=[["<DBInstanceStatus>available</DBInstanceStatus>",
                               "<DBInstanceStatus>creating</DBInstanceStatus>"]]))
    cycle(dm, "api")
    b = row(dm, "api")["backup"]
    drill = b["drill_instance"]
    check(b["drill"] == "scheduled" and drill.startswith("bsup-restore-api-")
          and count("RestoreDBInstanceFromDBSnapshot") == 0,
          f"first the drill's name is saved: {b['drill']} {drill}")
    check(b["drill_active"] and drill_cell(dm, "api") == "due",
          f"status DRILL: due, not yet running: {drill_cell(dm, 'api')}")
    restore_at = time.time()
    cycle(dm, "api")
    check(count("RestoreDBInstanceFromDBSnapshot") == 1, "then the restore goes out")
    got = moto("rds", "describe-db-instances", "--db-instance-identifier", drill).json
    inst = got["DBInstances"][0] if got else {}
    check({"Key": "bsup:drill", "Value": "api"} in inst.get("TagList", [])
          and {"Key": "bsup:owner", "Value": "bsupd"} in inst.get("TagList", [])
          and inst.get("DBInstanceClass") == "db.t3.micro",
          f"tagged as bsupd's, small: {inst.get('TagList')} {inst.get('DBInstanceClass')}")
    for _ in range(2):  # still "creating" (the proxy says so): watched, never waited on
        cycle(dm, "api")
        b = row(dm, "api")["backup"]
        check(b["drill"] == "restoring" and b["drill_active"] and b["drill_status"] == "creating",
              f"restoring across cycles: {b['drill']} {b['drill_status']}")
    check(drill_cell(dm, "api") == "running", f"status DRILL: {drill_cell(dm, 'api')}")
    rules()
    cycle(dm, "api")
    b = row(dm, "api")["backup"]
    # (whole seconds: moto's restore, watched by cycles back to back, may take less than one)
    took = time.time() - restore_at
    check(b["last_drill"] == "ok" and 0 <= b["last_drill_restore_s"] <= took + 1
          and count("DeleteDBInstance") == 1, f"available: recorded with its time ({took:.1f} s "
          f"since the restore went out), deleted: {b}")
    cycle(dm, "api")
    b = row(dm, "api")["backup"]
    got = moto("rds", "describe-db-instances", "--filters",
               f"Name=db-instance-id,Values={drill}").json
    check(got is not None and got["DBInstances"] == [] and b["drill"] == "idle"
          and b["next_drill_at"] > time.time() + 6 * 86400,
          f"its instance is gone; next drill in a week: {b['drill']} {b['next_drill_at']}")
    applied = events(dm, "api", "action.applied")
    check(any(m.startswith(f"RestoreDBInstanceFromDBSnapshot rds-instance/{drill}") for m in applied)
          and any(m.startswith(f"DeleteDBInstance rds-instance/{drill}") and "restored in" in m
                  for m in applied), f"each call journaled, the time to restore in an event: {applied}")
    cycle(dm, "api")
    check(count("RestoreDBInstanceFromDBSnapshot") == 1, "no new drill before it is due")
    check(drill_cell(dm, "api").startswith("ok "), f"status DRILL: {drill_cell(dm, 'api')}")
    dm.stop()

    # ---- kill -9 during a drill: after restart the leftover is found and deleted ----
    kill_extra = {"ops": "backup: {restore_test: 7d}\n"}
    dk = daemon("enforce", kill_extra)
    rules(dict(HOLD, replace=[["<DBInstanceStatus>available</DBInstanceStatus>",
                               "<DBInstanceStatus>creating</DBInstanceStatus>"]]))
    cycle(dk, "ops")
    cycle(dk, "ops")
    cycle(dk, "ops")
    b = row(dk, "ops")["backup"]
    leftover = b["drill_instance"]
    check(b["drill"] == "restoring", f"ops's drill is restoring: {b['drill']}")
    dk.proc.kill()
    dk.proc.wait(timeout=10)
    log_from = testlib.control(faults, "GET", "log")["next"]
    restores = count("RestoreDBInstanceFromDBSnapshot")
    rules()
    dk.start()
    cycle(dk, "ops")
    log = testlib.control(faults, "GET", f"log?since={log_from}")["entries"]
    deletes = [e for e in log if e["action"] == "DeleteDBInstance"]
    got = moto("rds", "describe-db-instances", "--filters",
               f"Name=db-instance-id,Values={leftover}").json
    b = row(dk, "ops")["backup"]
    check(len(deletes) == 1 and deletes[0]["status"] == 200,
          f"the proxy saw the leftover deleted once: {deletes}")
    check(got is not None and got["DBInstances"] == [], f"nothing left behind: {got}")
    check(b["last_drill"] == "interrupted" and count("RestoreDBInstanceFromDBSnapshot") == restores,
          f"recorded as interrupted, not restored again: {b['last_drill']}")
    check(any("RestoreDrill: interrupted" in m for m in events(dk, "ops", "finding.appeared")),
          "an event says the drill was interrupted")
    cycle(dk, "ops")
    check(row(dk, "ops")["backup"]["drill"] == "idle", "and it stays cleaned up")
    check(drill_cell(dk, "ops").startswith("intr "), f"status DRILL: {drill_cell(dk, 'ops')}")
    dk.stop()

    # ---- a failed drill degrades the service (alert-worthy) and is cleaned up ----
    df = daemon("enforce", {"plain": plain_asg + "backup: {restore_test: 7d}\n"})
    rules(dict(HOLD, replace=[["<DBInstanceStatus>available</DBInstanceStatus>",
                               "<DBInstanceStatus>incompatible-restore</DBInstanceStatus>"]]))
    deletes = count("DeleteDBInstance")
    for _ in range(3):  # scheduled, restored, failed (and its deletion sent)
        cycle(df, "plain")
    w = row(df, "plain")
    check(w["state"] == "degraded" and w["backup"]["last_drill"] == "failed"
          and w["backup"]["last_drill_why"] == "incompatible-restore",
          f"a failed drill degrades the service: {w['state']} {w['backup']['last_drill']}")
    check(any("RestoreDrill failed: incompatible-restore" in m
              for m in events(df, "plain", "service.degraded")), "a service.degraded event")
    check(len(events(df, "plain", "drill.failed")) == 1,
          f"a drill.failed event (an alert): {events(df, 'plain', 'drill.failed')}")
    check(count("DeleteDBInstance") == deletes + 1, "the failed drill's instance is deleted too")
    rules()
    cycle(df, "plain")
    check(row(df, "plain")["backup"]["drill"] == "idle", "cleaned up; the next try within a day")
    df.stop()

    # ---- the secret was never read ----
    c = testlib.control(faults, "GET", "counts")["services"]
    rules()
    print(f"calls by service: {json.dumps(c)}")
    check("GetSecretValue" not in c.get("secretsmanager", {})
          and not any(a.startswith("GetParameter") for a in c.get("ssm", {})),
          f"no GetSecretValue, no GetParameter(s): {c.get('secretsmanager')} {c.get('ssm')}")
    check(c.get("secretsmanager", {}).get("DescribeSecret", 0) > 0
          and c.get("ssm", {}).get("DescribeParameters", 0) > 0, "DescribeSecret, DescribeParameters")
    check(tripped[0] == 0, f"no request carried WithDecryption: {tripped[0]}")

    # ---- the figure: RDS calls per cycle at 100 services ----
    many, net100 = R.seed(d, 100)
    d100 = R.daemon(d, many, net100)  # the default 60 s interval sets the snapshot step's pace
    for run in ("first", "second"):
        testlib.control(faults, "DELETE", "counts")
        p = R.once(d100)
        rds = testlib.control(faults, "GET", "counts")["services"].get("rds", {})
        total = sum(rds.values())
        print(f"figure: RDS calls per cycle at 100 services ({run} --once): {total} {rds}")
        check(p.returncode == 0, f"100 services in sync: {p.returncode} {p.stderr[-400:]}")
        check(rds.get("DescribeDBInstances") == 1 and total <= 3,
              f"RDS batched: at most 3 calls per cycle: {rds}")

finish()
