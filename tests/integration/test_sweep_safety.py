#!/usr/bin/env python3
"""What the sweep (daemon/sweep.c) must not delete, through a running bsupd against the local
AWS: bsupd's tagged alarm and restore-drill instance of a service

- whose file is rejected: kept (its service keeps its last good state);
- moved into a new drop-in that is rejected: kept while any drop-in is rejected (what the
  broken file declares is unknown), with a 'would delete' line and a drill.orphaned event;
  deleted once the broken file is removed (the reload that ends the rejection sweeps);
- while bsupd is paused: kept, and said so;
- declared again by a reload while the round deletes another drill instance (the fault proxy
  holds that DeleteDBInstance): its drill instance is kept;
- of another bsupd in the same account and region (a bsup:owner tag other than its owner):
  kept, one info line per round; its own owner's deleted; an untagged drill instance (made
  before the owner setting) deleted only by the default owner; another bsupd's many alarms,
  once their tags are read, are not asked again and do not keep a round from this one's;
- of a declared service, but not the drill its record names (the record lost): kept, and a
  drill.orphaned event each round says to delete it.
"""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402
from bsuptest import GOOD_API, GOOD_WORKER, Daemon, poll  # noqa: E402

ALARM = "bsup-worker-staging-errors"
DRILL = "bsup-restore-worker-20261201"


def events(dm, kind):
    con = sqlite3.connect(f"file:{os.path.join(dm.state, 'bsup.db')}?mode=ro", uri=True)
    rows = [r[0] for r in con.execute("SELECT message FROM events WHERE kind = ? ORDER BY id",
                                      (kind,))]
    con.close()
    return rows


with testlib.environment("--faults") as d:
    cw, rds = R.moto(d, "cloudwatch"), R.moto(d, "rds")
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]

    def put_alarm(name=ALARM, owner="bsupd"):
        cw.put_metric_alarm(AlarmName=name, Namespace="BSUP", MetricName="ReconcileErrors",
                            Statistic="Maximum", Period=60, EvaluationPeriods=3, Threshold=1,
                            ComparisonOperator="GreaterThanOrEqualToThreshold",
                            Tags=[{"Key": "bsup:owner", "Value": owner}])

    def alarms():
        return {a["AlarmName"] for a in
                cw.describe_alarms(AlarmNamePrefix="bsup-")["MetricAlarms"]}

    def alarm_there():
        return ALARM in alarms()

    def drill_there():
        return any(i["DBInstanceIdentifier"] == DRILL and i["DBInstanceStatus"] != "deleting"
                   for i in rds.describe_db_instances()["DBInstances"])

    put_alarm()
    def drill_instance(name, service, owner=None):
        tags = [{"Key": "bsup:drill", "Value": service}]
        if owner:
            tags.append({"Key": "bsup:owner", "Value": owner})
        rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres",
                               DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                               MasterUsername="drill", MasterUserPassword="drill-password-1",
                               Tags=tags)

    def drills():
        return {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]
                if i["DBInstanceStatus"] != "deleting"}

    drill_instance(DRILL, "worker")
    env = R.aws_env(d)
    dm = Daemon(settings=f"region: {env['AWS_REGION']}\nlog_level: info\ninterval: 1d\n"
                "mode: enforce\n", env=env,
                files={"10-api.yaml": GOOD_API % 4, "20-worker.yaml": GOOD_WORKER % 4}).start()

    def said(text):
        """A 'would delete' line of a round that deleted nothing, or the deletion."""
        log = dm.logtext()
        return (text in log) or events(dm, "alarm.deleted") or events(dm, "drill.deleted")

    # worker's file broken: worker keeps its last good state, nothing of it is swept (the
    # first load's round and the reload's see worker declared).
    # The socket accepts before the first load; an answer comes once it is done.
    j = dm.ctl_json("status", expect=None)
    check({s["service"] for s in j["services"]} == {"api", "worker"}, f"loaded: {j['services']}")
    dm.write("20-worker.yaml", GOOD_WORKER % 4 + "min_sise: 3\n")
    dm.ctl("reload", expect=1)
    # worker moved into a new file that is rejected: not declared, yet not gone either.
    os.unlink(os.path.join(dm.conf, "20-worker.yaml"))
    dm.write("30-moved.yaml", GOOD_WORKER % 4 + "min_sise: 3\n")
    r = dm.ctl("reload", expect=1)
    check("1 removed" in r.stdout, f"the loader takes worker for removed: {r.stdout}")
    why = "(a drop-in is rejected and may declare it)"
    poll(lambda: said(f"would delete {ALARM}, its service is no longer declared {why}"),
         lambda: f"the round's 'would delete' line: {dm.logtext()}", timeout_s=60)
    check(events(dm, "alarm.deleted") == [] and alarm_there(),
          f"the alarm of a service moved into a rejected file is kept: "
          f"{events(dm, 'alarm.deleted')}")
    orphaned = events(dm, "drill.orphaned")
    check(drill_there() and events(dm, "drill.deleted") == [] and
          any(DRILL in m and "not deleted while a drop-in is rejected" in m for m in orphaned),
          f"its drill instance is kept, and said so: {orphaned}")

    # Paused: the broken file goes, worker is gone for good, and still nothing is deleted.
    dm.ctl("pause", expect=0)
    os.unlink(os.path.join(dm.conf, "30-moved.yaml"))
    dm.ctl("reload", expect=0)
    poll(lambda: said(f"would delete {ALARM}, its service is no longer declared (paused)"),
         lambda: f"the paused round's 'would delete' line: {dm.logtext()}", timeout_s=60)
    check(alarm_there() and drill_there() and events(dm, "alarm.deleted") == [],
          "paused: nothing deleted")

    # Resumed, then a reload that ends a rejection sweeps at once (it removes and changes
    # nothing itself: the service left while the file was rejected).
    dm.ctl("resume", expect=0)
    dm.write("30-moved.yaml", "min_size: [\n")
    dm.ctl("reload", expect=1)
    os.unlink(os.path.join(dm.conf, "30-moved.yaml"))
    dm.ctl("reload", expect=0)
    poll(lambda: events(dm, "alarm.deleted") and events(dm, "drill.deleted"),
         lambda: f"alarm.deleted and drill.deleted: {dm.logtext()}", timeout_s=60)
    check(not alarm_there() and not drill_there(), "deleted once no drop-in is rejected")
    rc, _ = dm.stop()
    check(rc == 0, f"bsupd exit {rc} after SIGTERM:\n{dm.logtext()}")

    # A round deletes the drill instances of two services that are gone, one after the other;
    # while the first delete is held, a reload declares the second's service again.
    drill_instance("bsup-restore-gone-20261202", "gone")
    drill_instance("bsup-restore-worker-20261202", "worker")
    testlib.control(faults, "PUT", "rules", {"rules": [
        {"service": "rds", "action": "DeleteDBInstance", "fault": "latency",
         "latency_ms": 3000}]})
    testlib.control(faults, "DELETE", "counts")
    dm2 = Daemon(settings=f"region: {env['AWS_REGION']}\nlog_level: info\ninterval: 1d\n"
                 "mode: enforce\n", env=env, files={"10-api.yaml": GOOD_API % 4}).start()
    poll(lambda: R.counts(d, "rds", "DeleteDBInstance") == 1,
         lambda: f"the first DeleteDBInstance: {dm2.logtext()}", timeout_s=60)
    dm2.write("20-worker.yaml", GOOD_WORKER % 4)
    dm2.ctl("reload", expect=0)
    # The round goes on to the alarms once its drills are done.
    poll(lambda: R.counts(d, "monitoring", "DescribeAlarms") >= 1,
         lambda: f"the round's DescribeAlarms: {dm2.logtext()}", timeout_s=60)
    check(events(dm2, "drill.deleted") == [
        "restore-drill instance bsup-restore-gone-20261202 deleted: its service is no longer "
        "declared"], f"gone's drill instance deleted: {events(dm2, 'drill.deleted')}")
    check("bsup-restore-worker-20261202" in drills() and
          R.counts(d, "rds", "DeleteDBInstance") == 1,
          f"the drill instance of worker, declared again, is kept: {drills()}")
    testlib.control(faults, "DELETE", "rules")
    rc, _ = dm2.stop()
    check(rc == 0, f"bsupd exit {rc} after SIGTERM:\n{dm2.logtext()}")

    # Two bsupd in one account and region, each with its own owner: team-b's sweep deletes only
    # what team-b made; the default owner's also sweeps an untagged (older) drill instance, and
    # neither touches team-a's.
    put_alarm("bsup-alpha-staging-errors", "team-a")
    put_alarm("bsup-beta-staging-errors", "team-b")
    put_alarm("bsup-gamma-staging-errors", "bsupd")
    drill_instance("bsup-restore-alpha-20261203", "alpha", "team-a")
    drill_instance("bsup-restore-beta-20261203", "beta", "team-b")
    drill_instance("bsup-restore-gamma-20261203", "gamma")
    theirs = "are another bsupd's (bsup:owner other than "

    def whole_log(dm):
        with open(dm.log, errors="replace") as f:
            return f.read()

    def swept(dm, owner):
        dm.start()
        poll(lambda: theirs + owner in whole_log(dm),
             lambda: f"the round's line on another bsupd's leftovers: {dm.logtext()}",
             timeout_s=60)
        rc, _ = dm.stop()
        check(rc == 0, f"bsupd exit {rc} after SIGTERM:\n{dm.logtext()}")
        return events(dm, "alarm.deleted"), events(dm, "drill.deleted")

    def daemon(owner):
        return Daemon(settings=f"region: {env['AWS_REGION']}\nlog_level: info\ninterval: 1d\n"
                      f"mode: enforce\n{owner}", env=env, files={"10-api.yaml": GOOD_API % 4})

    gone, gone_drills = swept(daemon("owner: team-b\n"), "team-b")
    check(any("bsup-beta-staging-errors" in m for m in gone) and
          any("bsup-restore-beta-20261203" in m for m in gone_drills),
          f"team-b's own leftovers deleted: {gone} {gone_drills}")
    check(not any("alpha" in m or "gamma" in m for m in gone + gone_drills) and
          {"bsup-alpha-staging-errors", "bsup-gamma-staging-errors"} <= alarms() and
          {"bsup-restore-alpha-20261203", "bsup-restore-gamma-20261203"} <= drills(),
          f"team-b keeps team-a's, the default owner's and the untagged: {alarms()} {drills()}")
    gone, gone_drills = swept(daemon(""), "bsupd")
    check(any("bsup-gamma-staging-errors" in m for m in gone) and
          any("bsup-restore-gamma-20261203" in m for m in gone_drills),
          f"the default owner deletes its alarm and the untagged drill: {gone} {gone_drills}")
    check("bsup-alpha-staging-errors" in alarms() and "bsup-restore-alpha-20261203" in drills()
          and not any("alpha" in m for m in gone + gone_drills),
          f"team-a's left alone by both: {alarms()} {drills()}")

    # Another bsupd's many alarms (300, a round's candidates, all sorting before this one's
    # leftover): the first round asks their tags and reaches no further; the next round skips
    # them (known as another's for a day) and deletes this bsupd's leftover.
    for i in range(300):
        put_alarm(f"bsup-a{i:03d}-staging-errors", "team-a")
    put_alarm("bsup-zulu-staging-errors", "team-b")
    d4 = Daemon(settings=f"region: {env['AWS_REGION']}\nlog_level: info\ninterval: 1d\n"
                "mode: enforce\nowner: team-b\n"
                "rate_limits: {cloudwatch_describe_alarms: {burst: 9, rate: 9}}\n",
                env=env, files={"10-api.yaml": GOOD_API % 4}).start()
    poll(lambda: "are another bsupd's" in whole_log(d4),
         lambda: f"the first round's line on team-a's: {d4.logtext()}", timeout_s=120)
    check("bsup-zulu-staging-errors" in alarms(), "the first round does not reach it")
    d4.write("10-api.yaml", GOOD_API % 5)
    d4.ctl("reload", expect=0)  # a changed service: a round
    poll(lambda: any("bsup-zulu-staging-errors" in m for m in events(d4, "alarm.deleted")),
         lambda: f"the next round deletes team-b's leftover: {d4.logtext()}", timeout_s=60)
    check(not any("bsup-a" in m for m in events(d4, "alarm.deleted")) and
          "bsup-a000-staging-errors" in alarms(), "team-a's kept")
    rc, _ = d4.stop()
    check(rc == 0, f"bsupd exit {rc} after SIGTERM:\n{d4.logtext()}")

    # A drill instance of a declared service that its drill record does not name (the state
    # database was replaced): no cycle deletes it, so each round says so; never deleted here.
    # Another owner's is not this bsupd's to mention.
    drill_instance("bsup-restore-api-20261130", "api")
    drill_instance("bsup-restore-api-20261129", "api", "team-a")
    d5 = daemon("").start()
    d5.ctl_json("status", expect=None)  # answered once the first load is done: the store is up
    lost = "restore-drill instance bsup-restore-api-20261130 of api is not the drill bsupd has"
    poll(lambda: any(lost in m for m in events(d5, "drill.orphaned")),
         lambda: f"the round's drill.orphaned event: {d5.logtext()}", timeout_s=60)
    check({"bsup-restore-api-20261130", "bsup-restore-api-20261129"} <= drills() and
          events(d5, "drill.deleted") == [] and
          not any("20261129" in m for m in events(d5, "drill.orphaned")),
          f"kept, and only this owner's said: {events(d5, 'drill.orphaned')}")
    rc, _ = d5.stop()
    check(rc == 0, f"bsupd exit {rc} after SIGTERM:\n{d5.logtext()}")

finish()
