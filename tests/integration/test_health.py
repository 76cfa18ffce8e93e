#!/usr/bin/env python3
"""The health domains against the local AWS (full seed: target groups, internal ALBs with an
HTTPS listener and an HTTP one redirecting, access logs on, deletion protection on in prod):

- health-check settings drift (path, healthy threshold) reported in observe mode, corrected
  with one ModifyTargetGroup in enforce mode, both in the journal and the events; a setting
  the drop-in does not write (interval) is neither drift nor changed;
- a plain-HTTP listener that serves instead of redirecting is a finding, never changed;
- unhealthy targets. moto cannot make any (it reports every running instance healthy), so the
  fault proxy rewrites its DescribeTargetHealth answers (targets unhealthy) and, to show a
  replacement in progress, a DescribeAutoScalingGroups answer (an instance Pending). Below
  min_healthy the service is degraded; with replace_unhealthy, SetInstanceHealth marks exactly
  the right instance after unhealthy_cycles fresh readings — one at a time within
  max_replace_percent, none while a replacement is in progress, none in observe mode — and
  never when every target is unhealthy (an outage: degraded and an event, and no count goes on
  through it, so the first reading after it marks nothing). Every --once run
  is a fresh bsupd: the streaks survive restarts in the state database. A reading counts once
  the target group's health-check interval has passed since the last one counted (web's
  checks every 5 s, ELBv2's least: the runs that must count wait for it; back-to-back runs
  not counting is test_health_gate.py's);
- figures: ELBv2 calls of a cold cycle over ~100 services and per interval afterwards, and the
  most ELBv2 calls in any 1 s window, within the default budget (burst 20, 5/s), unthrottled.
"""
import json
import os
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "tests", "integration"))
import reconcile_env as R  # noqa: E402
from testlib import check, finish  # noqa: E402
import testlib  # noqa: E402

SCENARIO = """services:
  - {service_name: web, environment: prod, min_size: 4, max_size: 8,
     health_check: {interval: 5, timeout: 2}}
  - {service_name: pay, environment: prod, min_size: 3, max_size: 6}
  - {service_name: api, environment: staging, min_size: 2, max_size: 4}
  - {service_name: edge, environment: staging, min_size: 2, max_size: 4}
"""
HC = "path: /health, healthy_threshold: 3, unhealthy_threshold: 3"
EXTRA = {
    # 4 instances, 3 must be healthy; 25% of 4: one marked at a time, after 3 readings.
    "web": f"health_check: {{{HC}, min_healthy: 3, replace_unhealthy: true, unhealthy_cycles: 3}}\n",
    "pay": f"health_check: {{{HC}, replace_unhealthy: true, unhealthy_cycles: 2}}\n",
}
MARK = ("autoscaling", "SetInstanceHealth")
MODIFY = ("elasticloadbalancing", "ModifyTargetGroup")

with testlib.environment("--faults") as d:
    seeded = R.seed_scenario(d, SCENARIO, "--no-drift")
    net = seeded["network"]
    faults = R.aws_env(d)["BSUP_FAULTS_URL"]
    svcs = [dict(name=n, env=e, min=mn, max=mx, type="t3.medium")
            for n, e, mn, mx in (("web", "prod", 4, 8), ("pay", "prod", 3, 6),
                                 ("api", "staging", 2, 4), ("edge", "staging", 2, 4))]
    dm = R.daemon(d, svcs, net, settings="cooldown: 0s\n", extra=EXTRA)
    db = os.path.join(dm.state, "bsup.db")
    cli = testlib.Cli(d)

    def run(mode, **kw):
        return R.once(dm, "--mode", mode, **kw)

    def paced(mode, service="web", interval_s=5):
        """A run whose reading counts: once the service's last counted reading (its memory,
        "id:streak[@marked_at]/counted_at") is interval_s old, and a second more (bsupd's
        clock is in whole seconds and may lag Python's by a few milliseconds)."""
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        row = con.execute("SELECT value FROM domain_cache WHERE domain = 'replacement' AND "
                          "key = ?", (f"memory|{service}",)).fetchone()
        con.close()
        counted = [int(e.rsplit("/", 1)[1]) for e in (row[0] if row else "").split(",")
                   if "/" in e]
        due = max(counted, default=0) + interval_s + 1
        while time.time() < due:
            time.sleep(due - time.time())
        return run(mode)

    def journal(service, action):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = con.execute("SELECT params, outcome FROM journal WHERE service = ? AND action = ? "
                           "ORDER BY id", (service, action)).fetchall()
        con.close()
        return [(json.loads(p), o) for p, o in rows]

    def events(service, kind):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = con.execute("SELECT message FROM events WHERE service = ? AND kind = ? ORDER BY id",
                           (service, kind)).fetchall()
        con.close()
        return [m for (m,) in rows]

    def instances(group):
        g = cli("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names",
                group).json["AutoScalingGroups"][0]
        return sorted(g["Instances"], key=lambda i: i["InstanceId"])

    def target_group(name):
        return cli("elbv2", "describe-target-groups", "--names", name).json["TargetGroups"][0]

    # The seeded backends as declared: with replace_unhealthy the groups' own ELB replacement
    # is switched off (HealthCheckType EC2: bsupd's damped replacement acts instead).
    p = run("enforce")
    check(p.returncode == 0, f"converged: {p.returncode} {p.stderr[-800:]}")
    check(len(journal("web", "UpdateAutoScalingGroup")) == 1 and
          journal("web", "UpdateAutoScalingGroup")[0][0].get("HealthCheckType") == "EC2",
          f"web's group hands replacement to bsupd: {journal('web', 'UpdateAutoScalingGroup')}")
    p = run("observe")
    check(p.returncode == 0, f"in sync, no finding on the seeded load balancers: {p.stderr[-800:]}")
    # (Other domains' findings, e.g. the backup domain's on the seeded database, are theirs.)
    posture = [m for m in events("api", "finding.appeared")
               if m.startswith("loadbalancer/") or m.startswith("targetgroup/")]
    check(posture == [], f"no posture finding on a seeded backend: {posture}")

    # ---- settings drift: reported in observe mode, corrected in enforce mode ----
    R.drift(d, "api-staging", "hc-path", "/")
    R.drift(d, "api-staging", "hc-healthy-threshold", 10)
    # Not written in api's drop-in: the target group owner's, never reset to ELBv2's 30s.
    R.drift(d, "api-staging", "hc-interval", 15)
    testlib.control(faults, "DELETE", "counts")
    p = run("observe")
    check(p.returncode == 1, f"observe mode: drift (exit 1): {p.returncode}")
    check(R.counts(d, *MODIFY) == 0, "observe mode changes nothing")
    found = events("api", "drift.found")
    check(found and "HealthCheckPath / (want /health)" in found[-1] and
          "HealthyThresholdCount 10 (want 3)" in found[-1] and
          "HealthCheckIntervalSeconds" not in found[-1], f"drift.found says what: {found}")
    p = run("enforce")
    check(p.returncode == 0, f"enforce mode corrects: {p.returncode} {p.stderr[-600:]}")
    check(R.counts(d, *MODIFY) == 1, "one ModifyTargetGroup")
    tg = target_group("api-staging")
    check(tg["HealthCheckPath"] == "/health" and tg["HealthyThresholdCount"] == 3 and
          tg["HealthCheckIntervalSeconds"] == 15,
          f"the target group is as declared, the rest as it was: {tg['HealthCheckPath']} "
          f"{tg['HealthyThresholdCount']} {tg['HealthCheckIntervalSeconds']}")
    j = journal("api", "ModifyTargetGroup")
    check(len(j) == 1 and j[0][1] == "ok" and j[0][0].get("HealthCheckPath") == "/health" and
          j[0][0].get("HealthyThresholdCount") == "3" and
          j[0][0]["TargetGroupArn"] == tg["TargetGroupArn"] and len(j[0][0]) == 3,
          f"the journal holds exactly what was sent: {j}")
    applied = events("api", "action.applied")
    check(applied and "ModifyTargetGroup targetgroup/api-staging: HealthCheckPath / -> /health, "
          "HealthyThresholdCount 10 -> 3" in applied[-1], f"action.applied: {applied}")
    p = run("enforce")
    check(p.returncode == 0 and R.counts(d, *MODIFY) == 1, "in sync after: nothing more sent")

    # ---- posture: a plain-HTTP listener serving traffic is reported, never changed ----
    subprocess.run([R.LOCALAWS, "drift", "--dir", d, "edge-staging", "http-forward"], check=True,
                   timeout=60, stdout=subprocess.DEVNULL)
    p = run("observe")
    check(p.returncode == 0, f"a finding does not change the state: {p.returncode}")
    f = events("edge", "finding.appeared")
    check(any("loadbalancer/edge-staging Listener 80 DefaultAction: forward (want redirect to "
              "HTTPS)" in m for m in f), f"finding.appeared for the HTTP listener: {f}")
    check(R.counts(d, "elasticloadbalancing", "ModifyListener") == 0, "the listener is left alone")

    # ---- unhealthy targets (rewritten answers), degraded, damped replacement ----
    web = instances("web-prod")
    i1, i2 = web[0]["InstanceId"], web[1]["InstanceId"]
    healthy = ("<Target><Id>{}</Id><Port>8080</Port></Target><HealthCheckPort>traffic-port"
               "</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth>")
    sick = ("<Target><Id>{}</Id><Port>8080</Port></Target><HealthCheckPort>traffic-port"
            "</HealthCheckPort><TargetHealth><State>unhealthy</State><Reason>"
            "Target.FailedHealthChecks</Reason><Description>Health checks failed</Description>"
            "</TargetHealth>")
    # The load balancer's CloudWatch counts (the local AWS publishes moto's own, all healthy)
    # would spare a cold run the target reads this rewrites: refused, so each run reads them.
    no_metrics = {"service": "monitoring", "action": "GetMetricData", "fault": "status",
                  "status": 403, "code": "AccessDenied", "message": "not in this test"}
    th_rules = [
        no_metrics,
        {"service": "elasticloadbalancing", "action": "DescribeTargetHealth", "fault": "rewrite",
         "request_contains": "targetgroup/web-prod/",
         "replace": [[healthy.format(i), sick.format(i)] for i in (i1, i2)]},
        {"service": "elasticloadbalancing", "action": "DescribeTargetHealth", "fault": "rewrite",
         "request_contains": "targetgroup/pay-prod/",
         "replace": [["<State>healthy</State>", "<State>unhealthy</State><Reason>"
                      "Target.Timeout</Reason>"]]},
    ]
    testlib.control(faults, "PUT", "rules", {"rules": th_rules})
    testlib.control(faults, "DELETE", "counts")

    p = run("enforce")  # reading 1
    check(p.returncode == 1, f"degraded needs attention: {p.returncode}")
    deg = events("web", "service.degraded")
    check(deg and "HealthyTargets 2 of 4 (want at least 3)" in deg[-1], f"web degraded: {deg}")
    deg = events("pay", "service.degraded")
    check(deg and "0 of 3, every target unhealthy: an outage" in deg[-1], f"pay: an outage: {deg}")
    f = events("web", "finding.appeared")
    check(any(f"targetgroup/web-prod Target {i1}: unhealthy (Target.FailedHealthChecks)" in m
              for m in f), f"the unhealthy target is an event: {f[-2:]}")
    paced("enforce")  # reading 2
    check(R.counts(d, *MARK) == 0, "not before unhealthy_cycles readings")
    p = paced("observe")  # reading 3: due, but observe mode never marks
    check(R.counts(d, *MARK) == 0, "observe mode marks nothing")
    p = paced("enforce")  # reading 4
    check(R.counts(d, *MARK) == 1, f"one marking (25% of 4 instances): {R.counts(d, *MARK)}")
    marks = journal("web", "SetInstanceHealth")
    check(len(marks) == 1 and marks[0][0] == {"InstanceId": i1, "HealthStatus": "Unhealthy",
                                              "ShouldRespectGracePeriod": "true"}
          and marks[0][1] == "ok", f"the first unhealthy instance, as asked: {marks}")
    check([i["HealthStatus"] for i in instances("web-prod") if i["InstanceId"] == i1] ==
          ["Unhealthy"], "AWS has it marked")
    applied = events("web", "action.applied")
    check(applied and f"SetInstanceHealth instance/{i1}: HealthStatus" in applied[-1],
          f"action.applied for the marking: {applied[-1:]}")

    run("enforce")  # reading 5: i1 marked and not gone
    check(R.counts(d, *MARK) == 1, "nothing new while the marked instance is in the group")

    # The group replaces it (by hand here: moto does not act on health); the new instance shows
    # Pending (a rewritten answer): still a replacement in progress.
    cli("autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", i1,
        "--no-should-decrement-desired-capacity")
    fresh = [i for i in instances("web-prod") if i["InstanceId"] not in {x["InstanceId"] for x in web}]
    check(len(fresh) == 1, f"a new instance replaced it: {fresh}")
    n = fresh[0]
    pending = (f"<InstanceId>{n['InstanceId']}</InstanceId><InstanceType>{n['InstanceType']}"
               f"</InstanceType><AvailabilityZone>{n['AvailabilityZone']}</AvailabilityZone>"
               "<LifecycleState>{}</LifecycleState>")
    testlib.control(faults, "PUT", "rules", {"rules": th_rules + [
        {"service": "autoscaling", "action": "DescribeAutoScalingGroups", "fault": "rewrite",
         "replace": [[pending.format("InService"), pending.format("Pending")]]}]})
    run("enforce")  # reading 6
    rules = testlib.control(faults, "GET", "rules")["rules"]
    check(rules[-1]["applied"] >= 1, f"the Pending rewrite applied: {rules[-1]}")
    check(R.counts(d, *MARK) == 1, "nothing new while an instance is pending")
    testlib.control(faults, "PUT", "rules", {"rules": th_rules})
    run("enforce")  # reading 7: the replacement is done
    marks = journal("web", "SetInstanceHealth")
    check(R.counts(d, *MARK) == 2 and len(marks) == 2 and marks[1][0]["InstanceId"] == i2,
          f"then the next one: {[m[0]['InstanceId'] for m in marks]} (i1 {i1}, i2 {i2})")
    check(journal("pay", "SetInstanceHealth") == [],
          "an outage (every target unhealthy) never marks an instance")
    # The outage ends: one target healthy again, two still recovering. Seven outage readings
    # were no evidence against them (unhealthy_cycles 2): nothing is marked yet.
    pay = [i["InstanceId"] for i in instances("pay-prod")]
    testlib.control(faults, "PUT", "rules", {"rules": th_rules[:2] + [
        {"service": "elasticloadbalancing", "action": "DescribeTargetHealth", "fault": "rewrite",
         "request_contains": "targetgroup/pay-prod/",
         "replace": [[healthy.format(i), sick.format(i)] for i in pay[1:]]}]})
    run("enforce")
    check(journal("pay", "SetInstanceHealth") == [],
          f"the first reading after an outage marks nothing: {journal('pay', 'SetInstanceHealth')}")
    testlib.control(faults, "PUT", "rules", {"rules": th_rules})

    # bsupctl: the HEALTHY column within 100 columns, the counts in --json, and recovery.
    dm.start()
    dm.ctl("reconcile", "--wait", expect=1)
    out = dm.ctl("status", expect=1).stdout
    check("HEALTHY" in out and all(len(l) <= 100 for l in out.splitlines()),
          f"status table with HEALTHY within 100 columns:\n{out}")
    check(any(l.startswith("pay ") and " 0/3 " in l for l in out.splitlines()),
          f"pay shows 0/3 healthy:\n{out}")
    row = {r["service"]: r for r in dm.ctl_json("status", expect=1)["services"]}
    h = row["pay"]["health"]
    check(h["targets"] == 3 and h["unhealthy"] == 3 and h["healthy"] == 0 and
          "Target.Timeout=3" in h["reasons"] and h["findings"] == 0,
          f"status --json carries the counts: {h}")
    check(row["edge"]["health"]["findings"] == 1, f"and the findings: {row['edge']['health']}")
    check(row["pay"]["state"] == "degraded" and "outage" in row["pay"]["replacement"]["waiting"],
          f"pay: {row['pay']['state']} {row['pay']['replacement']}")
    testlib.control(faults, "DELETE", "rules")
    dm.ctl("reconcile", "pay", "--wait", expect=None)
    st = dm.ctl_json("status", "pay", expect=None)["services"][0]
    check(st["state"] == "ok" and st["health"]["healthy"] == 3, f"pay recovers: {st['state']}")
    ev = [e for e in dm.ctl_json("events", "--service", "pay")["events"]]
    check(any(e["kind"] == "service.state" and "now ok (was degraded)" in e["message"] for e in ev),
          "a recovery event")
    check(any(e["kind"] == "finding.cleared" and "Target" in e["message"] for e in ev),
          "each target's recovery is an event")
    dm.stop()

    # ---- figures: ~100 services under the default budgets ----
    many, lean = R.seed(d, 100)
    files = {f"{i:04d}-{s['name']}.yaml": R.dropin(s, lean) for i, s in enumerate(many)}
    files.update({f"9{i:03d}-{s['name']}.yaml": R.dropin(s, net, EXTRA.get(s["name"], ""))
                  for i, s in enumerate(svcs)})
    n_services = len(files)

    def elbv2_window():
        return testlib.control(faults, "GET", "rate?window_s=1&service=elasticloadbalancing")

    # A cold cycle (bsupd --once: nothing read before) with the default budgets.
    dc = R.bsuptest.Daemon(settings=f"region: {R.aws_env(d)['AWS_REGION']}\nlog_level: info\n",
                           env=R.aws_env(d), files=files)
    testlib.control(faults, "DELETE", "counts")
    p = R.once(dc)
    c = testlib.control(faults, "GET", "counts")["services"].get("elasticloadbalancing", {})
    cold = sum(c.values())
    rate = elbv2_window()
    print(f"figure: a cold cycle over {n_services} services made {cold} ELBv2 calls "
          f"({json.dumps(c)}); at most {rate['max_in_window']} in any 1 s window")
    check(p.returncode in (0, 1), f"--once over {n_services} services: {p.stderr[-400:]}")
    check(rate["max_in_window"] <= 25, f"within burst 20 + 5/s: {rate}")
    log = testlib.control(faults, "GET", "log")["entries"]
    check(all(e["status"] < 400 for e in log), "nothing throttled or refused")

    # Steady state: a running bsupd with the default budgets (ELBv2 describe burst 20, 5/s)
    # and sweep (5 m), at a 20 s interval to keep the test short (the figure is per interval).
    # Once every service has been read, one interval.
    iv = 20
    dr = R.bsuptest.Daemon(settings=f"region: {R.aws_env(d)['AWS_REGION']}\nlog_level: info\n"
                           f"interval: {iv}s\njitter: 2s\n", env=R.aws_env(d), files=files)
    dr.start()

    with_lb = {s["name"] for s in svcs}  # the lean ones have no load balancer

    def read(r):
        h = r.get("health") or {}
        return h.get("health_read_at", 0) > 0 and (
            r["service"] not in with_lb or h.get("posture_read_at", 0) > 0)

    def all_read():
        rows = dr.ctl_json("status", expect=None)["services"]
        return len(rows) == n_services and all(read(r) for r in rows)

    R.bsuptest.poll(all_read, "every service's targets and posture read once", every_s=2)
    testlib.control(faults, "DELETE", "counts")
    t0 = time.monotonic()
    time.sleep(iv)  # the figure is what one interval costs
    span = time.monotonic() - t0
    c = testlib.control(faults, "GET", "counts")["services"].get("elasticloadbalancing", {})
    rate = elbv2_window()
    eng = dr.ctl_json("status", expect=None)["engine"]
    per = sum(c.values()) * iv / span
    print(f"figure: steady state over {n_services} services: {per:.1f} ELBv2 calls per {iv} s "
          f"cycle ({json.dumps(c)} in {span:.0f} s; the 5-minute sweep adds about "
          f"{n_services / 5:.0f} DescribeTargetHealth a minute once due); at most "
          f"{rate['max_in_window']} in any 1 s window; throttles "
          f"{eng['api']['elbv2_describe']['throttles']}")
    check(rate["max_in_window"] <= 25, f"within burst 20 + 5/s: {rate}")
    check(eng["api"]["elbv2_describe"]["throttles"] == 0, "no throttling")
    dr.stop()

finish()
