"""moto's own time per call: the calls a cycle makes, replayed one at a time with boto3
straight at moto (BSUP_MOTO_URL, no proxy, no injected latency, no bsupd). moto is one
Python process, so its calls are served one after another: calls x time per call is what
moto alone needs for a cycle, whatever the client. The figures include boto3's own signing
and parsing (about a millisecond a call); the fastest of the samples is the least moto needs
(a shared machine only adds to it), the median is the typical."""
import statistics
import time


def _clients(env, url):
    import boto3
    from botocore.config import Config
    s = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                              region_name=env["AWS_REGION"])
    cfg = Config(retries={"mode": "standard", "max_attempts": 3})
    return (s.client("autoscaling", endpoint_url=url, config=cfg),
            s.client("ec2", endpoint_url=url, config=cfg))


def shapes(names, templates):
    """The request shapes a cycle can make: name -> (service, action, callable(client pair, i)).
    names: Auto Scaling group names; templates: launch template ids."""
    batch = names[:100]
    return {
        "DescribeAutoScalingGroups x100": (
            "autoscaling", "DescribeAutoScalingGroups",
            lambda c, i: c[0].describe_auto_scaling_groups(AutoScalingGroupNames=batch,
                                                           MaxRecords=100)),
        "DescribeAutoScalingGroups x1": (
            "autoscaling", "DescribeAutoScalingGroups",
            lambda c, i: c[0].describe_auto_scaling_groups(
                AutoScalingGroupNames=[names[i % len(names)]])),
        "DescribeLaunchTemplateVersions x1": (
            "ec2", "DescribeLaunchTemplateVersions",
            lambda c, i: c[1].describe_launch_template_versions(
                LaunchTemplateId=templates[i % len(templates)], Versions=["$Latest"])),
        "DescribeLaunchTemplates x200": (
            "ec2", "DescribeLaunchTemplates",
            lambda c, i: c[1].describe_launch_templates(LaunchTemplateIds=templates[:200])),
    }


def time_calls(env, names, templates, wanted, samples=15):
    """Median and mean ms per call of each wanted shape name, straight at moto. Unknown
    shapes are reported as not replayed."""
    out = {}
    try:
        clients = _clients(env, env["BSUP_MOTO_URL"])
    except Exception as e:  # noqa: BLE001 - a figure, not a crash
        return {w: {"error": f"{type(e).__name__}: {e}"} for w in wanted}
    table = shapes(names, templates)
    for w in wanted:
        if w not in table:
            out[w] = {"error": "no replay for this call shape"}
            continue
        _svc, _act, fn = table[w]
        try:
            fn(clients, 0)  # warm the connection and moto's code path
            ts = []
            for i in range(samples):
                t0 = time.perf_counter()
                fn(clients, i)
                ts.append((time.perf_counter() - t0) * 1000)
            out[w] = {"min_ms": min(ts), "median_ms": statistics.median(ts),
                      "mean_ms": statistics.mean(ts), "samples": samples}
        except Exception as e:  # noqa: BLE001
            out[w] = {"error": f"{type(e).__name__}: {e}"[:300]}
    return out
