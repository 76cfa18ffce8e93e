#!/usr/bin/env python3
"""Seeding the demo scenario builds every resource bsupd relies on, under the
naming contract, and the AWS CLI lists them; drift changes what it says; SNS
alerts land in the subscribed SQS queue; the generator + --lean seed work, with shared load
balancers too; the local AWS publishes ELB's target-health metrics."""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("BSUP_SRCDIR", "."), "scripts", "localaws.d"))
import testlib  # noqa: E402
from testlib import check  # noqa: E402

LA = testlib.LOCALAWS


def la(*args):
    return subprocess.run([LA, *args], capture_output=True, text=True, timeout=300)


def elb_metrics(b, tg_arn, lb_arn, timeout_s=30):
    """The newest HealthyHostCount and UnHealthyHostCount of a group behind a load balancer,
    asked as bsupd asks (GetMetricData, TargetGroup then LoadBalancer), polled until the local
    AWS has published them (every 10 s, once a minute per group): (healthy, unhealthy) or None."""
    import datetime
    dims = [{"Name": "TargetGroup", "Value": tg_arn.split(":", 5)[5]},
            {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/", 1)[1]}]
    queries = [{"Id": f"m{i}", "MetricStat": {"Metric": {
        "Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dims},
        "Period": 60, "Stat": stat}} for i, (name, stat) in enumerate(
            (("HealthyHostCount", "Minimum"), ("UnHealthyHostCount", "Maximum")))]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = datetime.datetime.now(datetime.timezone.utc)
        res = b.cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=now - datetime.timedelta(minutes=5),
            EndTime=now, ScanBy="TimestampDescending")["MetricDataResults"]
        if all(r["Values"] for r in res):
            return tuple(r["Values"][0] for r in res)
        time.sleep(1)
    return None


def main():
    t_start = time.monotonic()
    demo = os.path.join(testlib.SRCDIR, "tests", "scenarios", "demo.yaml")
    with testlib.environment("--faults") as d:
        p = la("seed", "--dir", d, demo)
        check(p.returncode == 0, f"seed demo.yaml ({p.stdout.strip()} {p.stderr.strip()[-300:]})")
        aws = testlib.Cli(d)

        def q(*args):
            r = aws(*args)
            check(r.returncode == 0, f"aws {' '.join(args[:2])} ({r.stderr.strip()[:150]})")
            return r.json or {}

        api, wrk = "api-service-prod", "worker-service-staging"
        vpcs = q("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=bsup-localaws")["Vpcs"]
        check(len(vpcs) == 1, "one bsup VPC")
        vpc = vpcs[0]["VpcId"]
        subnets = q("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc}")["Subnets"]
        check(len(subnets) == 2, "two private subnets")
        rts = q("ec2", "describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc}")["RouteTables"]
        igw_routes = [r for t in rts for r in t.get("Routes", []) if r.get("GatewayId", "").startswith("igw-")]
        check(not igw_routes, "no route to an internet gateway")
        sgs = {g["GroupName"] for g in q("ec2", "describe-security-groups")["SecurityGroups"]}
        check({f"{api}-alb", f"{api}-app", f"{api}-db", f"{api}-cache"} <= sgs, "security groups per role")
        lts = {t["LaunchTemplateName"] for t in q("ec2", "describe-launch-templates")["LaunchTemplates"]}
        check({api, wrk} <= lts, "launch templates S-E")
        ver = q("ec2", "describe-launch-template-versions", "--launch-template-name", api)
        check(ver["LaunchTemplateVersions"][0]["LaunchTemplateData"]["InstanceType"] == "t3.large",
              "api launch template has t3.large")

        groups = {g["AutoScalingGroupName"]: g for g in
                  q("autoscaling", "describe-auto-scaling-groups")["AutoScalingGroups"]}
        check(set(groups) == {api, wrk}, f"ASGs S-E: {sorted(groups)}")
        g = groups.get(api, {})
        check((g.get("MinSize"), g.get("MaxSize")) == (1, 10), f"demo drift applied: api min/max {g.get('MinSize')}/{g.get('MaxSize')}")
        w = groups.get(wrk, {})
        check((w.get("MinSize"), w.get("MaxSize"), w.get("DesiredCapacity")) == (1, 3, 1), "worker ASG 1/3/1")
        check(len(g.get("TargetGroupARNs", [])) == 1, "api ASG attached to its target group")

        tg = q("elbv2", "describe-target-groups", "--names", api)["TargetGroups"][0]
        check(tg["HealthCheckPath"] == "/healthz" and tg["HealthyThresholdCount"] == 3,
              "target group health check /healthz, threshold 3")
        lb = q("elbv2", "describe-load-balancers", "--names", api)["LoadBalancers"][0]
        check(lb["Scheme"] == "internal" and lb["Type"] == "application", "internal ALB")
        ls = q("elbv2", "describe-listeners", "--load-balancer-arn", lb["LoadBalancerArn"])["Listeners"]
        kinds = sorted((x["Protocol"], x["Port"], x["DefaultActions"][0]["Type"]) for x in ls)
        check(kinds == [("HTTP", 80, "redirect"), ("HTTPS", 443, "forward")], f"listeners {kinds}")
        certs = q("acm", "list-certificates")["CertificateSummaryList"]
        https = [x for x in ls if x["Protocol"] == "HTTPS"]
        check(bool(certs) and https and https[0]["Certificates"][0]["CertificateArn"] == certs[0]["CertificateArn"],
              "HTTPS listener uses the imported ACM certificate")
        th = q("elbv2", "describe-target-health", "--target-group-arn", tg["TargetGroupArn"])
        check(len(th["TargetHealthDescriptions"]) == 2, "api targets registered by the ASG")
        # ELB's per-minute target-health metrics, which moto lacks: motoserver.py publishes them
        import seed as seedmod
        b = seedmod.Aws(d)
        states = [t["TargetHealth"]["State"] for t in th["TargetHealthDescriptions"]]
        got = elb_metrics(b, tg["TargetGroupArn"], lb["LoadBalancerArn"])
        check(got == (states.count("healthy"), states.count("unhealthy")),
              f"ELB metrics of the api group {got} = its target health {states}")

        dbs = {x["DBInstanceIdentifier"]: x for x in q("rds", "describe-db-instances")["DBInstances"]}
        check(set(dbs) == {api, wrk}, "RDS instances S-E")
        check(dbs.get(api, {}).get("StorageEncrypted") is True and dbs[api]["BackupRetentionPeriod"] == 14,
              "api DB encrypted, retention 14")
        snaps = q("rds", "describe-db-snapshots", "--db-instance-identifier", api)["DBSnapshots"]
        check(len(snaps) >= 1, f"api DB has a snapshot ({[s['SnapshotType'] for s in snaps]})")
        rgs = {x["ReplicationGroupId"] for x in q("elasticache", "describe-replication-groups")["ReplicationGroups"]}
        check(rgs == {api, wrk}, "ElastiCache replication groups S-E")
        secrets = {x["Name"] for x in q("secretsmanager", "list-secrets")["SecretList"]}
        check(secrets == {f"bsup/{api}/db", f"bsup/{wrk}/db"}, f"secrets bsup/S-E/db {sorted(secrets)}")
        val = json.loads(q("secretsmanager", "get-secret-value", "--secret-id", f"bsup/{api}/db")["SecretString"])
        check(val.get("username") == "api_admin" and len(val.get("password", "")) >= 16, "secret holds the DB password")
        topics = {x["TopicArn"].rsplit(":", 1)[1] for x in q("sns", "list-topics")["Topics"]}
        check(topics == {api, wrk}, "SNS topics S-E")
        alarms = {x["AlarmName"] for x in q("cloudwatch", "describe-alarms")["MetricAlarms"]}
        check(f"{api}-cpu-high" in alarms and f"{wrk}-unhealthy-hosts" in alarms and len(alarms) == 6,
              f"6 CloudWatch alarms ({len(alarms)})")

        # every alert published is readable from the subscribed queue
        topic = f"arn:aws:sns:us-east-1:123456789012:{api}"
        q("sns", "publish", "--topic-arn", topic, "--message", "bsup-test-alert")
        qurl = q("sqs", "get-queue-url", "--queue-name", f"{api}-alerts")["QueueUrl"]
        msgs = q("sqs", "receive-message", "--queue-url", qurl, "--max-number-of-messages", "10",
                 "--wait-time-seconds", "2").get("Messages", [])
        check(any(json.loads(m["Body"]).get("Message") == "bsup-test-alert" for m in msgs),
              "SNS alert delivered to the SQS queue")

        # drift behind bsup's back (verified with boto3 straight at moto: faster than the CLI)
        tga = tg["TargetGroupArn"]

        def asg_of(n):
            return b.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[n])["AutoScalingGroups"][0]

        def tg_of():
            return b.elbv2.describe_target_groups(TargetGroupArns=[tga])["TargetGroups"][0]

        def db_of(n):
            return b.rds.describe_db_instances(DBInstanceIdentifier=n)["DBInstances"][0]
        for what, value, verify in (
                ("asg-desired", "3", lambda: asg_of(api)["DesiredCapacity"] == 3),
                ("asg-max", "2", lambda: (asg_of(api)["MaxSize"], asg_of(api)["DesiredCapacity"]) == (2, 2)),
                ("hc-path", "/broken", lambda: tg_of()["HealthCheckPath"] == "/broken"),
                ("hc-unhealthy-threshold", "7", lambda: tg_of()["UnhealthyThresholdCount"] == 7),
                ("hc-interval", "10", lambda: tg_of()["HealthCheckIntervalSeconds"] == 10),
                ("backup-retention", "3", lambda: db_of(api)["BackupRetentionPeriod"] == 3),
                ("backups-off", None, lambda: db_of(wrk)["BackupRetentionPeriod"] == 0),
                ("snapshot-delete", None, lambda: not b.rds.describe_db_snapshots(
                    DBInstanceIdentifier=api)["DBSnapshots"]),
                ("alarm-delete", "cpu-high", lambda: f"{api}-cpu-high" not in
                 {x["AlarmName"] for x in b.cloudwatch.describe_alarms()["MetricAlarms"]}),
                ("instance-type", "t3.xlarge", lambda: b.ec2.describe_launch_template_versions(
                    LaunchTemplateName=api, Versions=["$Default"])["LaunchTemplateVersions"][0]
                 ["LaunchTemplateData"]["InstanceType"] == "t3.xlarge"),
                ("targets-unhealthy", None, lambda: {t["TargetHealth"]["State"] for t in
                 b.elbv2.describe_target_health(TargetGroupArn=tga)["TargetHealthDescriptions"]} == {"unused"})):
            svc = wrk if what == "backups-off" else api
            p = la("drift", "--dir", d, svc, what, *([value] if value else []))
            check(p.returncode == 0 and verify(), f"drift {svc} {what} {value or ''}: {p.stdout.strip()} {p.stderr.strip()[-200:]}")
        # moto has no "unhealthy" target state: the proxy's rewrite rule supplies it
        wtg = q("elbv2", "describe-target-groups", "--names", wrk)["TargetGroups"][0]["TargetGroupArn"]
        testlib.control(testlib.read_env(d)["BSUP_FAULTS_URL"], "PUT", "rules", {"rules": [{
            "service": "elasticloadbalancing", "action": "DescribeTargetHealth", "fault": "rewrite",
            "request_contains": f"targetgroup/{wrk}/",
            "replace": [["<State>healthy</State>", "<State>unhealthy</State>"
                         "<Reason>Target.FailedHealthChecks</Reason>"]]}]})
        states = {t["TargetHealth"]["State"] for t in q("elbv2", "describe-target-health", "--target-group-arn", wtg)
                  ["TargetHealthDescriptions"]}
        check(states == {"unhealthy"}, f"rewrite rule: worker targets {states}")
        states = {t["TargetHealth"]["State"] for t in q("elbv2", "describe-target-health", "--target-group-arn",
                                                        tga)["TargetHealthDescriptions"]}
        check(states == {"unused"}, f"rewrite rule leaves other groups alone: api targets {states}")
        p = la("drift", "--dir", d, api, "no-such-thing")
        check(p.returncode != 0 and "unknown WHAT" in p.stderr, "unknown drift is refused")

    # generator + lean seeding (10 services; 1000 is a manual benchmark)
    with testlib.environment() as d:
        scen = os.path.join(d, "gen10.yaml")
        with open(scen, "w") as f:
            subprocess.run([os.path.join(testlib.SRCDIR, "tests", "scenarios", "generate"), "10",
                            "--drift-every", "5"], stdout=f, check=True, timeout=60)
        t0 = time.monotonic()
        p = la("seed", "--dir", d, "--lean", scen)
        check(p.returncode == 0, f"lean seed of 10 services in {time.monotonic() - t0:.1f}s ({p.stderr.strip()[-200:]})")
        aws = testlib.Cli(d)
        groups = aws("autoscaling", "describe-auto-scaling-groups").json["AutoScalingGroups"]
        check(len(groups) == 10, f"10 ASGs ({len(groups)})")
        g0 = [g for g in groups if g["AutoScalingGroupName"] == "svc-0000-prod"]
        check(bool(g0) and g0[0]["MaxSize"] == 7, "generated drift applied to svc-0000-prod")
        dbs = aws("rds", "describe-db-instances").json["DBInstances"]
        check(len(dbs) == 10, f"10 DB instances ({len(dbs)})")
        lbs = aws("elbv2", "describe-load-balancers").json["LoadBalancers"]
        check(lbs == [], f"lean seed without --shared-lbs: no load balancers ({len(lbs)})")
        for args, why in ((["--shared-lbs", "2"], "without --lean"),
                          (["--lean", "--shared-lbs", "51"], "over 50 a load balancer")):
            p = la("seed", "--dir", d, *args, scen)
            check(p.returncode != 0 and "--shared-lbs" in p.stderr, f"--shared-lbs {why} is refused")

    # lean seeding with shared load balancers: 10 services, 4 per ALB
    with testlib.environment() as d:
        scen = os.path.join(d, "gen10.yaml")
        with open(scen, "w") as f:
            subprocess.run([os.path.join(testlib.SRCDIR, "tests", "scenarios", "generate"), "10"],
                           stdout=f, check=True, timeout=60)
        p = la("seed", "--dir", d, "--lean", "--shared-lbs", "4", "--no-drift", scen)
        check(p.returncode == 0, f"lean seed with --shared-lbs 4 ({p.stderr.strip()[-200:]})")
        import seed as seedmod
        b = seedmod.Aws(d)
        seeded = json.load(open(os.path.join(d, "seeded.json")))
        lbs = b.elbv2.describe_load_balancers()["LoadBalancers"]
        check(sorted((x["LoadBalancerName"], x["Scheme"]) for x in lbs) ==
              [(f"bsup-shared-00{i}", "internal") for i in range(3)], "3 internal shared ALBs")
        rules = {}
        for x in lbs:
            ls = b.elbv2.describe_listeners(LoadBalancerArn=x["LoadBalancerArn"])["Listeners"]
            check([(y["Protocol"], y["Port"], y["DefaultActions"][0]["Type"],
                    y["DefaultActions"][0].get("FixedResponseConfig", {}).get("StatusCode"))
                   for y in ls] == [("HTTP", 80, "fixed-response", "404")],
                  f"{x['LoadBalancerName']}: one HTTP:80 listener answering 404")
            for y in ls:
                for r in b.elbv2.describe_rules(ListenerArn=y["ListenerArn"])["Rules"]:
                    if not r.get("IsDefault"):
                        rules[r["Conditions"][0]["HostHeaderConfig"]["Values"][0]] = (
                            x["LoadBalancerArn"], r["Priority"], r["Actions"][0]["TargetGroupArn"])
        per_lb = sorted(sum(1 for v in rules.values() if v[0] == x["LoadBalancerArn"]) for x in lbs)
        check(per_lb == [2, 4, 4], f"rules per listener {per_lb}")
        svcs = seeded["services"]
        bad = [n for n, r in svcs.items() if rules.get(f"{n}.internal", ())[::2] !=
               (r.get("load_balancer_arn"), r["target_group_arn"]) or b.elbv2.describe_target_groups(
                   TargetGroupArns=[r["target_group_arn"]])["TargetGroups"][0]["LoadBalancerArns"]
               != [r.get("load_balancer_arn")]]
        check(not bad, f"each service's host-header rule forwards to its group, behind the ALB "
              f"seeded.json names ({bad})")
        r = svcs["svc-0009-prod"]
        states = [t["TargetHealth"]["State"] for t in b.elbv2.describe_target_health(
            TargetGroupArn=r["target_group_arn"])["TargetHealthDescriptions"]]
        got = elb_metrics(b, r["target_group_arn"], r["load_balancer_arn"])
        check(got == (states.count("healthy"), states.count("unhealthy")) and states,
              f"ELB metrics of a group behind a shared ALB {got} = its target health {states}")
    print(f"runtime {time.monotonic() - t_start:.1f}s")
    testlib.finish()


if __name__ == "__main__":
    main()
