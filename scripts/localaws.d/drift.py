"""`localaws drift DIR SERVICE WHAT [VALUE]`: changes a resource behind bsup's back.

SERVICE is the AWS name S-E (e.g. api-service-prod). Returns a one-line summary.
"""

import envctl
from seed import Aws

NEEDS_VALUE = {"asg-min", "asg-max", "asg-desired", "hc-path", "hc-interval",
               "hc-timeout", "hc-healthy-threshold", "hc-unhealthy-threshold",
               "backup-retention", "instance-type"}
WHATS = sorted(NEEDS_VALUE | {"backups-off", "snapshot-delete", "targets-unhealthy",
                              "alarm-delete", "http-forward"})


def _tg_arn(aws, n):
    return aws.elbv2.describe_target_groups(Names=[n[:32]])["TargetGroups"][0]["TargetGroupArn"]


def run(d, n, what, value=None):
    if what not in WHATS:
        raise envctl.EnvError(f"drift: unknown WHAT {what!r}; one of: {', '.join(WHATS)}")
    if what in NEEDS_VALUE and value is None:
        raise envctl.EnvError(f"drift: {what} needs a VALUE")
    aws = Aws(d)
    asg, elb, rds = aws.autoscaling, aws.elbv2, aws.rds
    if what in ("asg-min", "asg-max", "asg-desired"):
        g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[n])["AutoScalingGroups"]
        if not g:
            raise envctl.EnvError(f"drift: no auto scaling group {n}")
        g = g[0]
        v = int(value)
        mn, mx, ds = g["MinSize"], g["MaxSize"], g["DesiredCapacity"]
        if what == "asg-min":
            mn = v
        elif what == "asg-max":
            mx = v
        else:
            ds = v
        ds = min(max(ds, mn), mx)  # AWS requires min <= desired <= max
        asg.update_auto_scaling_group(AutoScalingGroupName=n, MinSize=mn, MaxSize=mx,
                                      DesiredCapacity=ds)
        return f"{n}: asg min/max/desired {g['MinSize']}/{g['MaxSize']}/{g['DesiredCapacity']} -> {mn}/{mx}/{ds}"
    if what.startswith("hc-"):
        key = {"hc-path": "HealthCheckPath", "hc-interval": "HealthCheckIntervalSeconds",
               "hc-timeout": "HealthCheckTimeoutSeconds",
               "hc-healthy-threshold": "HealthyThresholdCount",
               "hc-unhealthy-threshold": "UnhealthyThresholdCount"}[what]
        arn = _tg_arn(aws, n)
        elb.modify_target_group(TargetGroupArn=arn, **{key: value if what == "hc-path" else int(value)})
        return f"{n}: target group {key} -> {value}"
    if what == "instance-type":
        lt = aws.ec2.create_launch_template_version(
            LaunchTemplateName=n, SourceVersion="$Latest",
            LaunchTemplateData={"InstanceType": value})["LaunchTemplateVersion"]
        aws.ec2.modify_launch_template(LaunchTemplateName=n,
                                       DefaultVersion=str(lt["VersionNumber"]))
        return f"{n}: launch template version {lt['VersionNumber']} instance type {value}"
    if what in ("backup-retention", "backups-off"):
        v = 0 if what == "backups-off" else int(value)
        rds.modify_db_instance(DBInstanceIdentifier=n, BackupRetentionPeriod=v, ApplyImmediately=True)
        return f"{n}: rds backup retention -> {v}"
    if what == "snapshot-delete":
        gone = []
        for kind in ("automated", "manual"):
            for s in rds.describe_db_snapshots(DBInstanceIdentifier=n, SnapshotType=kind)["DBSnapshots"]:
                rds.delete_db_snapshot(DBSnapshotIdentifier=s["DBSnapshotIdentifier"])
                gone.append(s["DBSnapshotIdentifier"])
        if not gone:
            raise envctl.EnvError(f"drift: {n} has no snapshot to delete")
        return f"{n}: deleted snapshots {', '.join(gone)}"
    if what == "targets-unhealthy":
        # moto derives target health from instance state: stopping the
        # instances makes them "unused"/"unhealthy" to DescribeTargetHealth.
        arn = _tg_arn(aws, n)
        ids = [t["Target"]["Id"] for t in
               elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]]
        if not ids:
            raise envctl.EnvError(f"drift: target group {n} has no targets")
        aws.ec2.stop_instances(InstanceIds=ids)
        states = sorted({t["TargetHealth"]["State"] for t in
                         elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]})
        return f"{n}: stopped {len(ids)} target instance(s); target states now {states}"
    if what == "http-forward":
        # the plain-HTTP listener serves the group instead of redirecting to HTTPS
        lb = elb.describe_load_balancers(Names=[n[:32]])["LoadBalancers"][0]["LoadBalancerArn"]
        http = [l for l in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]
                if l["Protocol"] == "HTTP"]
        if not http:
            raise envctl.EnvError(f"drift: load balancer {n} has no HTTP listener")
        elb.modify_listener(ListenerArn=http[0]["ListenerArn"], DefaultActions=[
            {"Type": "forward", "TargetGroupArn": _tg_arn(aws, n)}])
        return f"{n}: HTTP:{http[0]['Port']} listener forwards to the target group"
    if what == "alarm-delete":
        names = [f"{n}-{value}"] if value else [
            a["AlarmName"] for a in aws.cloudwatch.describe_alarms(AlarmNamePrefix=f"{n}-")["MetricAlarms"]][:1]
        if not names:
            raise envctl.EnvError(f"drift: {n} has no alarm to delete")
        aws.cloudwatch.delete_alarms(AlarmNames=names)
        return f"{n}: deleted alarm {names[0]}"
    raise AssertionError(what)
