"""`localaws seed`: builds a scenario's backends through the AWS APIs (boto3)."""

import concurrent.futures
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

import envctl
import scenario as scn

_local = threading.local()
DEFAULT_AMI = "ami-12c6146b"


def env_of(d):
    env = {}
    with open(os.path.join(os.path.abspath(d), "env")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export "):
                k, v = line[len("export "):].split("=", 1)
                env[k] = v.strip('"')
    return env


class Aws:
    """boto3 clients for one environment; one set per thread."""

    def __init__(self, d, direct=True):
        env = env_of(d)
        # seeding talks to moto directly: faults are for the system under test
        self.endpoint = env["BSUP_MOTO_URL"] if direct else env["AWS_ENDPOINT_URL"]
        self.region = env["AWS_REGION"]
        self.session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region)
        self.session.events.register("before-parse", _moto_html_500)
        self.cfg = Config(retries={"max_attempts": 5, "mode": "standard"},
                          read_timeout=120, max_pool_connections=4)
        self._c = {}

    def __getattr__(self, svc):
        if svc.startswith("_"):
            raise AttributeError(svc)
        if svc not in self._c:
            self._c[svc] = self.session.client(svc, endpoint_url=self.endpoint, config=self.cfg)
        return self._c[svc]


def _moto_html_500(operation_model, response_dict, **_):
    """moto is not thread-safe: under concurrent creates it sometimes fails with
    "dictionary changed size during iteration" and answers werkzeug's HTML 500
    page, which botocore cannot parse and so never retries. Turn it into the
    protocol's InternalFailure so the standard retry mode retries it."""
    body = response_dict.get("body") or b""
    if response_dict.get("status_code", 200) < 500 or not body.lstrip()[:15].lower().startswith(b"<!doctype html"):
        return
    proto = operation_model.service_model.resolved_protocol
    if proto == "ec2":
        body = (b"<Response><Errors><Error><Code>InternalError</Code><Message>moto: "
                b"internal error</Message></Error></Errors><RequestID>0</RequestID></Response>")
    elif proto == "query":
        body = (b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
                b"<Message>moto: internal error</Message></Error><RequestId>0</RequestId></ErrorResponse>")
    elif proto == "json":
        body = b'{"__type":"InternalFailure","message":"moto: internal error"}'
    else:
        return
    response_dict["body"] = body


def _tags(s):
    return [{"Key": "bsup:service", "Value": s["service_name"]},
            {"Key": "bsup:environment", "Value": s["environment"]}]


def self_signed_cert(cn):
    with tempfile.TemporaryDirectory() as t:
        key, crt = os.path.join(t, "k.pem"), os.path.join(t, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "365", "-subj", f"/CN={cn}",
                        "-addext", f"subjectAltName=DNS:{cn}"],
                       check=True, capture_output=True, timeout=60)
        with open(key, "rb") as f1, open(crt, "rb") as f2:
            return f1.read(), f2.read()


def shared(aws, sc, lean, shared_lbs=0):
    """VPC, private subnets (route table without an internet gateway), cert, AMI; with
    shared_lbs K (lean), ceil(N/K) internal ALBs whose HTTP:80 listener answers 404 unless a
    service's host-header rule forwards."""
    ec2 = aws.ec2
    vpc = ec2.create_vpc(CidrBlock=sc["vpc_cidr"], TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "bsup-localaws"}]}])["Vpc"]["VpcId"]
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_tags(Resources=[rt], Tags=[{"Key": "Name", "Value": "bsup-private"}])
    # /18 subnets: moto allocates a private IP per instance and ENI, and 1000
    # services need thousands of them
    prefix = ".".join(sc["vpc_cidr"].split(".")[:2])
    subnets = []
    for i, az in enumerate(("a", "b")):
        sn = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.{i * 64}.0/18",
                               AvailabilityZone=f"{aws.region}{az}")["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[sn], Tags=[{"Key": "Name", "Value": f"bsup-private-{az}"}])
        ec2.associate_route_table(RouteTableId=rt, SubnetId=sn)
        subnets.append(sn)
    # one of moto's built-in AMIs; listing all of them (Owners=amazon) costs ~5 s
    try:
        images = ec2.describe_images(ImageIds=[DEFAULT_AMI])["Images"]
    except Exception:  # an id moto does not know: pick any
        images = ec2.describe_images(Owners=["amazon"])["Images"][:1]
    ami = images[0]["ImageId"] if images else DEFAULT_AMI
    out = {"vpc_id": vpc, "subnet_ids": subnets, "route_table_id": rt, "ami": ami}
    if not lean:
        key, crt = self_signed_cert("internal.bsup.test")
        out["certificate_arn"] = aws.acm.import_certificate(
            Certificate=crt, PrivateKey=key)["CertificateArn"]
    if shared_lbs:
        elb = aws.elbv2
        sg = ec2.create_security_group(GroupName="bsup-shared-alb", Description="bsup shared ALBs",
                                       VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
             "IpRanges": [{"CidrIp": "10.0.0.0/8"}]} for p in (80, 443)])
        out["shared_lbs"] = []
        for i in range(-(-len(sc["services"]) // shared_lbs)):
            lb = elb.create_load_balancer(
                Name=f"bsup-shared-{i:03d}", Subnets=subnets, SecurityGroups=[sg],
                Scheme="internal", Type="application",
                IpAddressType="ipv4")["LoadBalancers"][0]["LoadBalancerArn"]
            listener = elb.create_listener(
                LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{
                    "Type": "fixed-response", "FixedResponseConfig": {
                        "StatusCode": "404", "ContentType": "text/plain"}}]
            )["Listeners"][0]["ListenerArn"]
            elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[
                {"Key": "access_logs.s3.enabled", "Value": "true"},
                {"Key": "access_logs.s3.bucket", "Value": "bsup-alb-logs"},
                {"Key": "deletion_protection.enabled", "Value": "true"}])
            out["shared_lbs"].append({"load_balancer_arn": lb, "http_listener_arn": listener})
    return out


def seed_service(aws, s, net, lean):
    n = s["name"]
    r = {"name": n}
    ec2, elb, asg, rds = aws.ec2, aws.elbv2, aws.autoscaling, aws.rds
    hc = s["health_check"]

    sg = {}
    for role in (("app",) if lean else ("alb", "app", "db", "cache")):
        sg[role] = ec2.create_security_group(
            GroupName=f"{n}-{role}", Description=f"bsup {n} {role}",
            VpcId=net["vpc_id"])["GroupId"]
    if not lean:
        ec2.authorize_security_group_ingress(GroupId=sg["alb"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
             "IpRanges": [{"CidrIp": "10.0.0.0/8"}]} for p in (80, 443)])
        for role, port in (("app", 8080), ("db", 5432), ("cache", 6379)):
            src = "alb" if role == "app" else "app"
            ec2.authorize_security_group_ingress(GroupId=sg[role], IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 "UserIdGroupPairs": [{"GroupId": sg[src]}]}])
    r["security_groups"] = sg

    lt = ec2.create_launch_template(LaunchTemplateName=n, LaunchTemplateData={
        "ImageId": net["ami"], "InstanceType": s["instance_type"],
        "SecurityGroupIds": [sg["app"]]})["LaunchTemplate"]["LaunchTemplateId"]
    r["launch_template_id"] = lt

    tg = elb.create_target_group(
        Name=n[:32], Protocol="HTTP", Port=8080, VpcId=net["vpc_id"], TargetType="instance",
        HealthCheckProtocol=hc["protocol"], HealthCheckPort=str(hc["port"]),
        HealthCheckPath=hc["path"], HealthCheckIntervalSeconds=int(hc["interval"]),
        HealthCheckTimeoutSeconds=int(hc["timeout"]),
        HealthyThresholdCount=int(hc["healthy_threshold"]),
        UnhealthyThresholdCount=int(hc["unhealthy_threshold"]),
        Matcher={"HttpCode": str(hc["matcher"])}, Tags=_tags(s))["TargetGroups"][0]["TargetGroupArn"]
    r["target_group_arn"] = tg

    if s.get("shared_lb"):
        lb = s["shared_lb"]
        r["load_balancer_arn"] = lb["load_balancer_arn"]
        r["http_listener_arn"] = lb["http_listener_arn"]
        r["listener_rule_arn"] = elb.create_rule(
            ListenerArn=lb["http_listener_arn"], Priority=s["shared_lb_priority"],
            Conditions=[{"Field": "host-header",
                         "HostHeaderConfig": {"Values": [f"{n}.internal"]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": tg}])["Rules"][0]["RuleArn"]
    if not lean:
        lb = elb.create_load_balancer(
            Name=n[:32], Subnets=net["subnet_ids"], SecurityGroups=[sg["alb"]],
            Scheme="internal", Type="application", IpAddressType="ipv4",
            Tags=_tags(s))["LoadBalancers"][0]["LoadBalancerArn"]
        r["load_balancer_arn"] = lb
        r["https_listener_arn"] = elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTPS", Port=443,
            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            Certificates=[{"CertificateArn": net["certificate_arn"]}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
        r["http_listener_arn"] = elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "redirect", "RedirectConfig": {
                "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]
        )["Listeners"][0]["ListenerArn"]
        # the posture bsupd reports on: access logs on, deletion protection on in prod
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb, Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "bsup-alb-logs"},
            {"Key": "deletion_protection.enabled",
             "Value": "true" if s["environment"] == "prod" else "false"}])

    asg.create_auto_scaling_group(
        AutoScalingGroupName=n, LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=int(s["min_size"]), MaxSize=int(s["max_size"]),
        DesiredCapacity=int(s["desired"]), VPCZoneIdentifier=",".join(net["subnet_ids"]),
        TargetGroupARNs=[tg], HealthCheckType="ELB", HealthCheckGracePeriod=300,
        Tags=[dict(t, PropagateAtLaunch=True) for t in _tags(s)])

    db = s["database"]
    password = secrets.token_urlsafe(24)
    if not lean:
        r["secret_arn"] = aws.secretsmanager.create_secret(
            Name=f"bsup/{n}/db", Description=f"database password of {n}",
            SecretString=json.dumps({"username": db["username"], "password": password}),
            Tags=_tags(s))["ARN"]
    rds.create_db_subnet_group(DBSubnetGroupName=n, DBSubnetGroupDescription=f"bsup {n}",
                               SubnetIds=net["subnet_ids"])
    retention = int(s["backup_retention"]) if s["enable_backup"] else 0
    kw = {}
    if not lean:
        kw["VpcSecurityGroupIds"] = [sg["db"]]
    inst = rds.create_db_instance(
        DBInstanceIdentifier=n, DBInstanceClass=db["instance_class"], Engine=db["engine"],
        AllocatedStorage=int(db["allocated_storage"]), DBName=db["name"],
        MasterUsername=db["username"], MasterUserPassword=password,
        DBSubnetGroupName=n, StorageEncrypted=True, BackupRetentionPeriod=retention,
        PreferredBackupWindow="03:00-04:00", PubliclyAccessible=False,
        CopyTagsToSnapshot=True, Tags=_tags(s), **kw)["DBInstance"]
    r["db_instance_arn"] = inst["DBInstanceArn"]
    if retention and not lean:
        snaps = rds.describe_db_snapshots(DBInstanceIdentifier=n, SnapshotType="automated")["DBSnapshots"]
        if not snaps:
            # moto creates no automated snapshots: stand one in (see README)
            rds.create_db_snapshot(DBInstanceIdentifier=n, DBSnapshotIdentifier=f"{n}-seed",
                                   Tags=_tags(s) + [{"Key": "bsup:stand-in", "Value": "automated"}])
            r["db_snapshot"] = f"{n}-seed"
        else:
            r["db_snapshot"] = snaps[0]["DBSnapshotIdentifier"]

    if lean:
        return r

    c = s["cache"]
    aws.elasticache.create_cache_subnet_group(
        CacheSubnetGroupName=n, CacheSubnetGroupDescription=f"bsup {n}", SubnetIds=net["subnet_ids"])
    aws.elasticache.create_replication_group(
        ReplicationGroupId=n[:40], ReplicationGroupDescription=f"bsup {n}", Engine=c["engine"],
        CacheNodeType=c["node_type"], NumCacheClusters=int(c["clusters"]),
        AutomaticFailoverEnabled=int(c["clusters"]) > 1, CacheSubnetGroupName=n,
        SecurityGroupIds=[sg["cache"]], AtRestEncryptionEnabled=True, TransitEncryptionEnabled=True,
        SnapshotRetentionLimit=int(c["snapshot_retention"]) if s["enable_backup"] else 0,
        SnapshotWindow="04:00-05:00", Tags=_tags(s))
    r["replication_group_id"] = n[:40]

    topic = aws.sns.create_topic(Name=n, Tags=_tags(s))["TopicArn"]
    qurl = aws.sqs.create_queue(QueueName=f"{n}-alerts")["QueueUrl"]
    qarn = aws.sqs.get_queue_attributes(QueueUrl=qurl, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.sqs.set_queue_attributes(QueueUrl=qurl, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": qarn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "false"})
    r.update(topic_arn=topic, alert_queue_url=qurl)

    lb_dim = r["load_balancer_arn"].split(":loadbalancer/", 1)[1]
    tg_dim = tg.split(":", 5)[5]
    specs = {
        "cpu-high": ("AWS/EC2", "CPUUtilization", [{"Name": "AutoScalingGroupName", "Value": n}], 80, "Average"),
        "unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount",
                            [{"Name": "LoadBalancer", "Value": lb_dim},
                             {"Name": "TargetGroup", "Value": tg_dim}], 0, "Maximum"),
        "db-free-storage": ("AWS/RDS", "FreeStorageSpace",
                            [{"Name": "DBInstanceIdentifier", "Value": n}], 2 * 1024 ** 3, "Minimum"),
    }
    r["alarms"] = []
    for a in s["alarms"]:
        ns, metric, dims, thr, stat = specs[a]
        cmp = "LessThanThreshold" if a == "db-free-storage" else "GreaterThanThreshold"
        aws.cloudwatch.put_metric_alarm(
            AlarmName=f"{n}-{a}", Namespace=ns, MetricName=metric, Dimensions=dims,
            Statistic=stat, Period=60, EvaluationPeriods=3, Threshold=thr,
            ComparisonOperator=cmp, AlarmActions=[topic], OKActions=[topic],
            TreatMissingData="notBreaching", Tags=_tags(s))
        r["alarms"].append(f"{n}-{a}")
    return r


def _thread_aws(d):
    if not hasattr(_local, "aws"):
        _local.aws = Aws(d)
    return _local.aws


MAX_SHARED_LBS = 50  # services per shared ALB: one listener rule each, AWS allows 100 a listener


def run(d, path, lean=False, threads=8, apply_drift=True, shared_lbs=0):
    if not os.path.exists(os.path.join(os.path.abspath(d), "env")):
        raise envctl.EnvError(f"no environment in {d}; run: scripts/localaws start --dir {d}")
    if shared_lbs and not lean:
        raise envctl.EnvError("--shared-lbs is for --lean seeds "
                              "(a full seed gives each service its own ALB)")
    if not 0 <= shared_lbs <= MAX_SHARED_LBS:
        raise envctl.EnvError(f"--shared-lbs {shared_lbs}: 1 to {MAX_SHARED_LBS} services "
                              "per load balancer")
    try:
        sc = scn.load(path)
    except (scn.ScenarioError, OSError) as e:
        raise envctl.EnvError(str(e))
    t0 = time.monotonic()
    aws = Aws(d)
    net = shared(aws, sc, lean, shared_lbs)
    for i, s in enumerate(sc["services"] if shared_lbs else ()):  # ALB i // K, rule i % K + 1
        s["shared_lb"] = net["shared_lbs"][i // shared_lbs]
        s["shared_lb_priority"] = i % shared_lbs + 1
    results = {}
    errors = []
    threads = max(1, min(threads, len(sc["services"])))
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        futs = {ex.submit(lambda s: seed_service(_thread_aws(d), s, net, lean), s): s["name"]
                for s in sc["services"]}
        for i, f in enumerate(concurrent.futures.as_completed(futs), 1):
            try:
                results[futs[f]] = f.result()
            except Exception as e:  # report every failed service, then fail
                errors.append(f"{futs[f]}: {e}")
            if len(futs) >= 100 and i % 100 == 0:
                print(f"localaws: seeded {i}/{len(futs)} in {time.monotonic() - t0:.0f}s",
                      file=sys.stderr, flush=True)
    t_seed = time.monotonic() - t0
    drifted = []
    if apply_drift and not errors:
        import drift
        for dr in sc["drift"]:
            drifted.append(drift.run(d, dr["service"], dr["what"],
                                     None if dr.get("value") is None else str(dr["value"])))
    out = {"network": net, "services": results, "drift": drifted, "lean": lean,
           "shared_lbs": shared_lbs,
           "seconds": round(time.monotonic() - t0, 2)}
    with open(os.path.join(os.path.abspath(d), "seeded.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"localaws: seeded {len(results)}/{len(sc['services'])} services "
          f"({'lean' if lean else 'full'}, {threads} threads"
          + (f", {len(net['shared_lbs'])} shared load balancers" if shared_lbs else "")
          + f") in {t_seed:.1f}s"
          + (f"; applied {len(drifted)} drift(s)" if drifted else "")
          + f"; details in {os.path.abspath(d)}/seeded.json")
    if errors:
        raise envctl.EnvError("seeding failed:\n  " + "\n  ".join(errors[:20]))
