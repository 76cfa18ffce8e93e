#!/usr/bin/env python3
"""The peer: a straightforward boto3 reconciler making the same observations as bsupd's cycle,
for comparison. For each service, on a pool of threads, one call per resource, boto3's
default retries, no batching, no cache — what one would write in an afternoon:

  scaling  DescribeAutoScalingGroups of its group: MinSize, MaxSize, the running instances'
           type (DescribeLaunchTemplateVersions only for a group with no instance)
  health   DescribeTargetGroups of its target group: the health check settings;
           DescribeTargetHealth: healthy targets against min_healthy; with a load balancer,
           its posture (DescribeLoadBalancers, DescribeListeners,
           DescribeLoadBalancerAttributes, DescribeSSLPolicies of its HTTPS listeners),
           read once a pass for all the services that share it, as bsupd does
  backup   DescribeDBInstances of its database: exists, backups on, encryption, deletion
           protection in prod, DBName, MasterUsername; DescribeDBSnapshots (automated, all
           pages): the newest available one younger than 26 h; with a declared cache group,
           DescribeReplicationGroups and DescribeSnapshots; its password: DescribeParameters
           (ssm:) or DescribeSecret (secretsmanager:), never the value
  alarms   DescribeAlarms of bsupd's three alarms of the service (one call, three names)

    peer.py --services FILE.json [--threads 16] [--passes 2] [--pause-s S]

FILE.json: [{"name": "svc-0000-prod", "environment": "prod", "min_size": 1, "max_size": 4,
"instance_type": ..., "target_group": ..., "health_check": {...}, "db_instance": ...,
"database_name": ..., "database_username": ..., "database_password": "ssm:/..."}] (the
drop-ins' desired state). AWS settings come from the environment (AWS_ENDPOINT_URL, keys,
region). Prints one JSON object: per pass its wall time, epoch start/end (to split the
proxy's log), verdicts, the HTTP attempts per operation (botocore's before-send) and the
errors."""
import argparse
import datetime
import json
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

T_START = time.monotonic()
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

T_IMPORTED = time.monotonic()

# the declared health-check keys and the target group's fields they set
HEALTH_FIELDS = {"path": "HealthCheckPath", "port": "HealthCheckPort",
                 "protocol": "HealthCheckProtocol", "interval": "HealthCheckIntervalSeconds",
                 "timeout": "HealthCheckTimeoutSeconds",
                 "healthy_threshold": "HealthyThresholdCount",
                 "unhealthy_threshold": "UnhealthyThresholdCount"}
ALARMS = ("healthy", "backup-age", "errors")  # docs/metrics.md, "Alarms"
TLS_PROTOCOLS = ("HTTPS", "TLS")  # listeners whose SslPolicy bsupd judges
SEVERITY = ["ok", "finding", "drift", "degraded", "missing", "error"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", required=True)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--pause-s", type=float, default=0.0,
                    help="pause between passes (a reconciler runs on an interval)")
    args = ap.parse_args()
    with open(args.services) as f:
        services = json.load(f)

    attempts = {}
    lock = threading.Lock()

    def on_send(event_name=None, **_):
        op = event_name.rsplit(".", 1)[-1]
        with lock:
            attempts[op] = attempts.get(op, 0) + 1

    session = boto3.session.Session()
    cfg = Config(max_pool_connections=args.threads)
    c = {name: session.client(name, config=cfg) for name in
         ("autoscaling", "ec2", "elbv2", "rds", "elasticache", "ssm", "secretsmanager",
          "cloudwatch")}
    for client in c.values():
        client.meta.events.register("before-send", on_send)
    t_clients = time.monotonic()

    def scaling(svc):
        groups = c["autoscaling"].describe_auto_scaling_groups(
            AutoScalingGroupNames=[svc["name"]])["AutoScalingGroups"]
        if not groups:
            return "missing"
        g = groups[0]
        types = {i["InstanceType"] for i in g.get("Instances", []) if i.get("InstanceType")}
        lt = g.get("LaunchTemplate") or {}
        if not types and lt:
            v = c["ec2"].describe_launch_template_versions(
                LaunchTemplateId=lt["LaunchTemplateId"],
                Versions=[lt.get("Version") or "$Default"])["LaunchTemplateVersions"]
            if v and v[0]["LaunchTemplateData"].get("InstanceType"):
                types = {v[0]["LaunchTemplateData"]["InstanceType"]}
        same = (g["MinSize"] == svc["min_size"] and g["MaxSize"] == svc["max_size"] and
                types <= {svc["instance_type"]})
        return "ok" if same else "drift"

    def health(svc):
        elb = c["elbv2"]
        try:
            tg = elb.describe_target_groups(Names=[svc["target_group"]])["TargetGroups"][0]
        except elb.exceptions.TargetGroupNotFoundException:
            return "missing"
        verdict = "ok"
        for key, field in HEALTH_FIELDS.items():
            want = (svc.get("health_check") or {}).get(key)
            if want is not None and str(tg.get(field)) != str(want):
                verdict = "drift"
        targets = elb.describe_target_health(
            TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        healthy = sum(1 for t in targets if t["TargetHealth"]["State"] == "healthy")
        if healthy < svc.get("min_healthy", svc["min_size"]):
            verdict = worst(verdict, "degraded")
        for lb_arn in tg.get("LoadBalancerArns", [])[:1]:
            lb, listeners, attrs = read_posture(lb_arn)
            bad = lb["Scheme"] != "internal" or attrs.get("access_logs.s3.enabled") != "true"
            bad |= svc["environment"] == "prod" and \
                attrs.get("deletion_protection.enabled") != "true"
            for x, protocols in listeners:
                if x["Protocol"] in TLS_PROTOCOLS:
                    bad |= any(p in ("TLSv1", "TLSv1.1") for p in protocols)
                elif x["Protocol"] == "HTTP":
                    bad |= x["DefaultActions"][-1]["Type"] != "redirect"
            if bad:
                verdict = worst(verdict, "finding")
        return verdict

    def read_posture(lb_arn):
        """A load balancer's posture, read once a pass however many services share it (as
        bsupd reads it): the first service to ask reads, the others wait for its answer."""
        with lock:
            fut = postures.get(lb_arn)
            mine = fut is None
            if mine:
                fut = postures[lb_arn] = Future()
        if not mine:
            return fut.result()
        try:
            elb = c["elbv2"]
            lb = elb.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
            listeners = [x for page in elb.get_paginator("describe_listeners").paginate(
                LoadBalancerArn=lb_arn) for x in page["Listeners"]]
            attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
                LoadBalancerArn=lb_arn)["Attributes"]}
            # moto gives plain-HTTP listeners an SslPolicy too: only TLS ones have one to read
            listeners = [(x, elb.describe_ssl_policies(Names=[x["SslPolicy"]])["SslPolicies"][0]
                          .get("SslProtocols", []) if x["Protocol"] in TLS_PROTOCOLS and
                          x.get("SslPolicy") else []) for x in listeners]
            fut.set_result((lb, listeners, attrs))
        except Exception as e:  # noqa: BLE001 - every service sharing it gets the error
            fut.set_exception(e)
        return fut.result()

    def backup(svc):
        rds = c["rds"]
        try:
            db = rds.describe_db_instances(
                DBInstanceIdentifier=svc["db_instance"])["DBInstances"][0]
        except rds.exceptions.DBInstanceNotFoundFault:
            return "missing"
        verdict = "ok"
        if db.get("DBName") != svc["database_name"] or \
                db.get("MasterUsername") != svc["database_username"]:
            verdict = "finding"
        if db.get("BackupRetentionPeriod", 0) == 0:
            verdict = worst(verdict, "drift")
        if svc["environment"] == "prod" and \
                (not db.get("StorageEncrypted") or not db.get("DeletionProtection")):
            verdict = worst(verdict, "finding")
        snaps = [s for page in rds.get_paginator("describe_db_snapshots").paginate(
            DBInstanceIdentifier=svc["db_instance"], SnapshotType="automated")
            for s in page["DBSnapshots"] if s.get("Status") == "available"]
        now = datetime.datetime.now(datetime.timezone.utc)
        if not snaps or now - max(s["SnapshotCreateTime"] for s in snaps) > \
                datetime.timedelta(hours=26):
            verdict = worst(verdict, "finding")
        group = svc.get("cache_replication_group")
        if group:
            ec = c["elasticache"]
            try:
                ec.describe_replication_groups(ReplicationGroupId=group)
                if not ec.describe_snapshots(ReplicationGroupId=group)["Snapshots"]:
                    verdict = worst(verdict, "finding")
            except ec.exceptions.ReplicationGroupNotFoundFault:
                verdict = worst(verdict, "missing")
        kind, _, ref = (svc.get("database_password") or "").partition(":")
        if kind == "ssm":
            params = c["ssm"].describe_parameters(ParameterFilters=[
                {"Key": "Name", "Option": "Equals", "Values": [ref]}])["Parameters"]
            if not params or params[0].get("Type") != "SecureString":
                verdict = worst(verdict, "finding")
        elif kind == "secretsmanager":
            sm = c["secretsmanager"]
            try:
                if sm.describe_secret(SecretId=ref).get("DeletedDate"):
                    verdict = worst(verdict, "finding")
            except sm.exceptions.ResourceNotFoundException:
                verdict = worst(verdict, "finding")
        return verdict

    def alarms(svc):
        # bsupd's own three alarms of the service (metrics.alarms, on by default): observe
        # mode would only create or correct them, so they set no verdict
        c["cloudwatch"].describe_alarms(
            AlarmNames=[f"bsup-{svc['name']}-{what}" for what in ALARMS])
        return "ok"

    def observe(svc):
        try:
            return worst(scaling(svc), health(svc), backup(svc), alarms(svc)), None
        except Exception as e:  # noqa: BLE001 - an error is a verdict, the pass goes on
            return "error", f"{type(e).__name__}: {e}"[:300]

    passes = []
    postures = {}  # load balancer ARN -> Future of its posture, this pass
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        for i in range(args.passes):
            if i:
                time.sleep(args.pause_s)
            with lock:
                attempts.clear()
                postures.clear()
            t0, e0, c0 = time.monotonic(), time.time(), time.process_time()
            results = list(pool.map(observe, services))
            t1, e1, c1 = time.monotonic(), time.time(), time.process_time()
            verdicts = {}
            for v, _err in results:
                verdicts[v] = verdicts.get(v, 0) + 1
            errors = sorted({err for _v, err in results if err})[:5]
            with lock:
                calls = dict(attempts)
            passes.append({"wall_s": t1 - t0, "cpu_s": c1 - c0, "epoch_start": e0,
                           "epoch_end": e1, "services": len(services), "verdicts": verdicts,
                           "attempts": calls, "errors": errors})
    json.dump({"threads": args.threads, "pause_s": args.pause_s,
               "import_s": T_IMPORTED - T_START,
               "clients_s": t_clients - T_IMPORTED, "passes": passes}, sys.stdout)
    print()


def worst(*verdicts):
    return max(verdicts, key=SEVERITY.index)


if __name__ == "__main__":
    main()
