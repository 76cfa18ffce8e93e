#!/usr/bin/env python3
"""Captures raw AWS response bodies for the operations bsupd calls from a moto server on
loopback: seeds an ASG, target groups, an RDS instance, an ElastiCache replication group,
alarms, a topic, a secret and a parameter through the real APIs, then saves every body
as tests/data/aws/<service>/<Action>[-<variant>].xml|json, with the HTTP status and
request-id headers beside it in .meta.json and botocore's parse (timestamps raw) in
.expected.json.

    tests/data/aws/capture.py            # starts moto_server on a free loopback port
"""
import json
import os
import socket
import subprocess
import sys
import time

import boto3
import botocore.exceptions
import botocore.parsers

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "eu-west-1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Recorder:
    def __init__(self):
        self.variant = None
        self.active = False

    def __call__(self, http_response, parsed, model, **kw):
        if not self.active:
            return
        svc = model.service_model.service_name
        ext = "json" if model.service_model.protocol == "json" else "xml"
        name = model.name + (f"-{self.variant}" if self.variant else "")
        d = os.path.join(HERE, {"cloudwatch": "monitoring"}.get(svc, svc))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{name}.{ext}"), "wb") as f:
            f.write(http_response.content)
        keep = ("content-type", "x-amzn-requestid", "x-amz-request-id", "x-amzn-query-error")
        meta = {"status": http_response.status_code,
                "headers": {k.lower(): v for k, v in http_response.headers.items()
                            if k.lower() in keep}}
        # botocore's own parse, timestamps and blobs left as sent (as in aws-responses/).
        factory = botocore.parsers.ResponseParserFactory()
        factory.set_parser_defaults(timestamp_parser=lambda x: x, blob_parser=lambda x: x)
        parser = factory.create_parser(model.service_model.protocol)
        expected = parser.parse({"status_code": http_response.status_code,
                                 "headers": http_response.headers,
                                 "body": http_response.content}, model.output_shape)
        rid = expected.pop("ResponseMetadata", {}).get("RequestId")
        if rid and model.service_model.protocol != "json":
            expected["ResponseMetadata"] = {"RequestId": rid}
        if "Error" in expected:
            expected["Error"] = {k: v for k, v in expected["Error"].items()
                                 if k in ("Code", "Message")}
            expected["ResponseMetadata"] = {"RequestId": rid}
        with open(os.path.join(d, f"{name}.expected.json"), "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
            f.write("\n")
        with open(os.path.join(d, f"{name}.meta.json"), "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write("\n")


def self_signed_cert(cn):
    """A throw-away certificate for an HTTPS listener (ACM import arguments)."""
    import tempfile
    with tempfile.TemporaryDirectory() as t:
        key, crt = os.path.join(t, "k.pem"), os.path.join(t, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", crt, "-days", "2", "-subj", f"/CN={cn}"],
                       check=True, capture_output=True, timeout=60)
        with open(key, "rb") as f1, open(crt, "rb") as f2:
            return {"PrivateKey": f1.read(), "Certificate": f2.read()}


def query_cloudwatch_model(tmp):
    """CloudWatch now prefers CBOR/JSON; bsupd speaks Query. Put a copy of the model that
    only offers Query first on botocore's search path."""
    import gzip
    import botocore
    data = os.path.join(os.path.dirname(botocore.__file__), "data", "cloudwatch")
    version = sorted(os.listdir(data))[-1]
    with gzip.open(os.path.join(data, version, "service-2.json.gz")) as f:
        model = json.load(f)
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    os.makedirs(os.path.join(tmp, "cloudwatch", version))
    with open(os.path.join(tmp, "cloudwatch", version, "service-2.json"), "w") as f:
        json.dump(model, f)
    os.environ["AWS_DATA_PATH"] = tmp


def main():
    import tempfile
    tmp = tempfile.mkdtemp()
    query_cloudwatch_model(tmp)
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        sess = boto3.session.Session(aws_access_key_id="testing",
                                     aws_secret_access_key="testing", region_name=REGION)
        rec = Recorder()

        def client(name):
            c = sess.client(name, endpoint_url=url)
            c.meta.events.register("after-call.*", rec)
            return c

        def call(fn, variant=None, **kw):
            rec.variant = variant
            rec.active = True
            try:
                return fn(**kw)
            except botocore.exceptions.ClientError:
                return None
            finally:
                rec.variant = None
                rec.active = False

        ec2 = client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        sub1 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                                 AvailabilityZone=REGION + "a")["Subnet"]["SubnetId"]
        sub2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24",
                                 AvailabilityZone=REGION + "b")["Subnet"]["SubnetId"]
        lt = ec2.create_launch_template(
            LaunchTemplateName="api-prod",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.medium"},
        )["LaunchTemplate"]["LaunchTemplateId"]
        call(ec2.describe_launch_template_versions, LaunchTemplateId=lt)
        call(ec2.describe_launch_template_versions, "error", LaunchTemplateId="lt-0000000000000000")

        elb = client("elbv2")
        lb = elb.create_load_balancer(Name="api-prod", Subnets=[sub1, sub2])
        lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        tgs = []
        for name in ("api-prod", "web-prod"):
            tgs.append(elb.create_target_group(
                Name=name, Protocol="HTTP", Port=8080, VpcId=vpc, HealthCheckPath="/healthz",
                HealthCheckIntervalSeconds=15, HealthCheckTimeoutSeconds=5,
                HealthyThresholdCount=3, UnhealthyThresholdCount=2,
                Matcher={"HttpCode": "200-299"})["TargetGroups"][0]["TargetGroupArn"])
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs[0]}])
        cert = client("acm").import_certificate(**self_signed_cert("api.bsup.test"))
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
                            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                            Certificates=[{"CertificateArn": cert["CertificateArn"]}],
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs[0]}])
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=8080,
                            DefaultActions=[{"Type": "redirect", "RedirectConfig": {
                                "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "bsup-alb-logs"}])
        call(elb.describe_listeners, LoadBalancerArn=lb_arn)
        call(elb.describe_load_balancer_attributes, LoadBalancerArn=lb_arn)
        call(elb.describe_ssl_policies,
             Names=["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-2016-08"])
        call(elb.describe_ssl_policies, "unknown", Names=["ELBSecurityPolicy-Nope"])  # moto: empty, AWS: SSLPolicyNotFound
        call(elb.describe_load_balancers)
        call(elb.describe_target_groups)
        call(elb.describe_target_groups, "page1", PageSize=1)
        call(elb.describe_target_groups, "error", Names=["nope"])
        call(elb.modify_target_group, TargetGroupArn=tgs[0], HealthCheckPath="/ready",
             HealthCheckIntervalSeconds=10)

        asg = client("autoscaling")
        for name in ("api-prod", "worker-prod"):
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=2, MaxSize=4, DesiredCapacity=2,
                LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
                VPCZoneIdentifier=f"{sub1},{sub2}", HealthCheckType="ELB",
                HealthCheckGracePeriod=300, TargetGroupARNs=[tgs[0]] if name == "api-prod" else [])
        call(asg.describe_auto_scaling_groups)
        call(asg.describe_auto_scaling_groups, "page1", MaxRecords=1)
        call(asg.update_auto_scaling_group, AutoScalingGroupName="api-prod", MaxSize=6)
        call(asg.update_auto_scaling_group, "error", AutoScalingGroupName="nope", MaxSize=6)
        inst = ec2.describe_instances()["Reservations"][0]["Instances"][0]["InstanceId"]
        call(asg.set_instance_health, InstanceId=inst, HealthStatus="Unhealthy",
             ShouldRespectGracePeriod=True)
        elb.register_targets(TargetGroupArn=tgs[0], Targets=[{"Id": inst, "Port": 8080}])
        call(elb.describe_target_health, TargetGroupArn=tgs[0])

        rds = client("rds")
        for ident in ("api-prod", "web-prod"):
            rds.create_db_instance(
                DBInstanceIdentifier=ident, DBInstanceClass="db.t3.medium", Engine="postgres",
                MasterUsername="app", MasterUserPassword="not-a-real-password",
                AllocatedStorage=20, BackupRetentionPeriod=7, StorageEncrypted=True)
        rds.create_db_snapshot(DBInstanceIdentifier="api-prod", DBSnapshotIdentifier="api-prod-manual")
        call(rds.describe_db_instances)
        call(rds.describe_db_instances, "page1", MaxRecords=20)
        call(rds.describe_db_instances, "error", DBInstanceIdentifier="nope")
        call(rds.describe_db_snapshots, DBInstanceIdentifier="api-prod")
        call(rds.modify_db_instance, DBInstanceIdentifier="api-prod", BackupRetentionPeriod=14,
             ApplyImmediately=True)

        ec = client("elasticache")
        ec.create_replication_group(ReplicationGroupId="api-prod",
                                    ReplicationGroupDescription="api cache",
                                    Engine="redis", CacheNodeType="cache.t3.micro",
                                    SnapshotRetentionLimit=5, SnapshotWindow="03:00-04:00")
        call(ec.describe_replication_groups)
        call(ec.describe_replication_groups, "error", ReplicationGroupId="nope")
        call(ec.describe_snapshots, ReplicationGroupId="api-prod")

        cw = client("cloudwatch")
        call(cw.put_metric_data, Namespace="bsup", MetricData=[
            {"MetricName": "ReconcileDrift", "Value": 1.0, "Unit": "Count",
             "Dimensions": [{"Name": "Service", "Value": "api"}]}])
        for name in ("api-prod-unhealthy", "api-prod-5xx"):
            call(cw.put_metric_alarm, AlarmName=name, MetricName="UnHealthyHostCount",
                 Namespace="AWS/ApplicationELB", Statistic="Maximum", Period=60,
                 EvaluationPeriods=3, Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
                 AlarmActions=["arn:aws:sns:eu-west-1:123456789012:bsup-alerts"])
        call(cw.describe_alarms)
        call(cw.describe_alarms, "page1", MaxRecords=1)
        # the health domain's first reading: a target group's ELB counts (queries as bsupd's)
        import datetime
        now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
        dims = [{"Name": "TargetGroup", "Value": "targetgroup/api-prod/0123456789abcdef"},
                {"Name": "LoadBalancer", "Value": "app/api-prod/0123456789abcdef"}]
        for name, value in (("HealthyHostCount", 2.0), ("UnHealthyHostCount", 0.0)):
            cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
                {"MetricName": name, "Value": value, "Unit": "Count", "Dimensions": dims,
                 "Timestamp": now - datetime.timedelta(seconds=90)}])
        call(cw.get_metric_data, StartTime=now - datetime.timedelta(seconds=120),
             EndTime=now + datetime.timedelta(seconds=60), ScanBy="TimestampDescending",
             MetricDataQueries=[
                 {"Id": f"{i}0", "MetricStat": {"Metric": {
                     "Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dims},
                     "Period": 180, "Stat": stat}}
                 for i, name, stat in (("h", "HealthyHostCount", "Minimum"),
                                       ("u", "UnHealthyHostCount", "Maximum"))])

        sns = client("sns")
        topic = sns.create_topic(Name="bsup-alerts")["TopicArn"]
        call(sns.publish, TopicArn=topic, Subject="bsup: api-prod", Message="api-prod: 1 unhealthy target")
        call(sns.publish, "error", TopicArn=topic + "-missing", Message="x")

        call(client("sts").get_caller_identity)

        sm = client("secretsmanager")
        sm.create_secret(Name="api-prod/db", SecretString='{"password":"not-a-real-secret"}')
        call(sm.get_secret_value, SecretId="api-prod/db")
        call(sm.get_secret_value, "error", SecretId="nope")

        ssm = client("ssm")
        ssm.put_parameter(Name="/api-prod/db-password", Value="not-a-real-secret",
                          Type="SecureString")
        call(ssm.get_parameter, Name="/api-prod/db-password", WithDecryption=True)
        call(ssm.get_parameter, "error", Name="/nope", WithDecryption=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
