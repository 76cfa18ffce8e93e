"""moto's own time per call: the calls a cycle makes, replayed one at a time straight at moto
(BSUP_MOTO_URL: no proxy, no injected latency, no bsupd). Each request is signed with
botocore beforehand and sent over a kept-alive http.client connection; the time is from
sending to the last byte of the answer, which is read and not parsed — a client's XML
parsing (botocore needs tens of milliseconds for 100 groups) is not moto's. moto is one
Python process, so its calls are served one after another: calls x time per call is what
moto alone needs for a cycle, whatever the client. The fastest of the samples is the least
moto needs (a shared machine only adds to it); the median is the typical."""
import http.client
import statistics
import time
import urllib.parse

# Query/EC2 API versions of the actions replayed
VERSIONS = {"autoscaling": "2011-01-01", "ec2": "2016-11-15"}


def shapes(names, templates):
    """The request shapes a cycle can make: name -> (service, query parameters(i))."""
    batch = names[:100]

    def asg(group):
        p = {"Action": "DescribeAutoScalingGroups", "MaxRecords": "100"}
        p.update({f"AutoScalingGroupNames.member.{k + 1}": n for k, n in enumerate(group)})
        return p
    return {
        "DescribeAutoScalingGroups x100": ("autoscaling", lambda i: asg(batch)),
        "DescribeAutoScalingGroups x1": ("autoscaling", lambda i: asg([names[i % len(names)]])),
        "DescribeLaunchTemplateVersions x1": ("ec2", lambda i: {
            "Action": "DescribeLaunchTemplateVersions",
            "LaunchTemplateId": templates[i % len(templates)],
            "LaunchTemplateVersion.1": "$Latest"}),
        "DescribeLaunchTemplates x200": ("ec2", lambda i: dict(
            {"Action": "DescribeLaunchTemplates"},
            **{f"LaunchTemplateId.{k + 1}": t for k, t in enumerate(templates[:200])})),
    }


def _signed(env, service, params):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    body = urllib.parse.urlencode(dict(params, Version=VERSIONS[service]))
    req = AWSRequest(method="POST", url=env["BSUP_MOTO_URL"] + "/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]), service,
              env["AWS_REGION"]).add_auth(req)
    return body, dict(req.headers.items())


def time_calls(env, names, templates, wanted, samples=15):
    """Fastest, median and mean ms per call of each wanted shape, straight at moto, and the
    answer's size. Unknown shapes are reported as not replayed."""
    out = {}
    url = urllib.parse.urlsplit(env["BSUP_MOTO_URL"])
    table = shapes(names, templates)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        for w in wanted:
            if w not in table:
                out[w] = {"error": "no replay for this call shape"}
                continue
            service, params = table[w]
            try:
                ts, size = [], 0
                for i in range(samples + 1):  # the first warms the connection and moto
                    body, headers = _signed(env, service, params(i))
                    t0 = time.perf_counter()
                    conn.request("POST", "/", body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    dt = (time.perf_counter() - t0) * 1000
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
                    if i:
                        ts.append(dt)
                        size = len(data)
                out[w] = {"min_ms": min(ts), "median_ms": statistics.median(ts),
                          "mean_ms": statistics.mean(ts), "samples": samples,
                          "answer_bytes": size}
            except Exception as e:  # noqa: BLE001 - a figure, not a crash
                conn.close()
                out[w] = {"error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        conn.close()
    return out
