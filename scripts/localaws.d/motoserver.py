"""moto_server, with two fixes. First, a gzip request body (Content-Encoding: gzip, as the SDKs send
CloudWatch PutMetricData over 10 KiB) is decoded once, not twice.

moto 5.x's server decodes such a body in its Flask before_request hook
(moto/moto_server/utilities.py, decompress_request_body: the stream becomes a GzipFile), and
then BaseResponse.setup_class (moto/core/responses.py) sees the Content-Encoding header still
there and decodes the already plain body again: gzip.BadGzipFile, HTTP 500. Every SDK request
compressed this way fails against moto_server (moto's in-process decorator path decodes once,
in normalize_request, and is fine). Here setup_class is told the server has already decoded
it. Nothing else changes; the signature is still verified (moto takes the payload hash from
x-amz-content-sha256 when the client signs one, as bsupd does for a compressed body).

Second, STS AssumeRoleWithWebIdentity and AssumeRoleWithSAML are unsigned, as AWS has them (the
token or assertion is the caller's proof; the SDKs send them without a signature): moto's
server asks every call for a signature once auth is enforced, and refused them. Every other
call is still verified.

And one addition: ELB's CloudWatch target-health metrics, which AWS publishes every minute for
every target group attached to a load balancer and moto does not. A daemon thread, every 10 s,
counts each attached group's targets as moto's DescribeTargetHealth answers (states "healthy"
and "unhealthy") and appends HealthyHostCount and UnHealthyHostCount (unit Count, timestamp
now) per load balancer of the group to the same account and region's CloudWatch, at most once
a minute per group. Namespace AWS/ApplicationELB, AWS/NetworkELB or AWS/GatewayELB by the load
balancer's type; dimensions TargetGroup (targetgroup/NAME/ID) then LoadBalancer (app/NAME/ID),
in that order: moto's GetMetricData compares a query's dimensions with a datum's in order (its
sorted() relies on a broken Dimension.__lt__), so a query must name them in this order too."""
import os
import sys
import threading
import time

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import BaseResponse
from moto.server import main

_setup_class = BaseResponse.setup_class


def _setup_class_decoded_once(self, request, full_url, headers, *args, **kwargs):
    if "werkzeug" in str(type(request)) and getattr(request, "content_encoding", None) == "gzip":
        self.allow_request_decompression = False  # before_request decoded the stream already
    return _setup_class(self, request, full_url, headers, *args, **kwargs)


BaseResponse.setup_class = _setup_class_decoded_once

_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
_UNSIGNED_STS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}


def _authorize_as_aws(self, iam_request_cls, resource="*"):
    if getattr(self, "service_name", None) == "sts" and self._get_action() in _UNSIGNED_STS:
        return None
    return _authorize(self, iam_request_cls, resource)


ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize_as_aws

ELB_METRICS_EVERY_S = 10  # how often the emulator looks for groups to publish for
ELB_METRICS_PERIOD_S = 60  # one datum pair per group and load balancer a minute, as ELB
_ELB_NAMESPACES = {"app": "AWS/ApplicationELB", "net": "AWS/NetworkELB", "gwy": "AWS/GatewayELB"}


def publish_elb_metrics(published, now_s):
    """One round: for every target group attached to a load balancer and not published for in
    the last ELB_METRICS_PERIOD_S, its targets' health as datums. published: {(account, region,
    group ARN): monotonic time of the last datums}, updated."""
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends
    from moto.core.utils import utcnow
    from moto.elbv2.models import elbv2_backends

    # copies throughout: requests change these in other threads
    for account, regions in list(elbv2_backends.items()):
        for region, elb in list(regions.items()):
            for arn, tg in list(elb.target_groups.items()):
                lbs = list(dict.fromkeys(tg.load_balancer_arns))
                key = (account, region, arn)
                if not lbs or now_s - published.get(key, -1e9) < ELB_METRICS_PERIOD_S:
                    continue
                states = [h.status for h in elb.describe_target_health(arn, [])]
                counts = {"HealthyHostCount": states.count("healthy"),
                          "UnHealthyHostCount": states.count("unhealthy")}
                cw = cloudwatch_backends[account][region]
                ts = utcnow()
                for lb in lbs:
                    lb_dim = lb.split(":loadbalancer/", 1)[1]
                    dims = [{"Name": "TargetGroup", "Value": arn.split(":", 5)[5]},
                            {"Name": "LoadBalancer", "Value": lb_dim}]
                    ns = _ELB_NAMESPACES.get(lb_dim.split("/", 1)[0], "AWS/ApplicationELB")
                    for name, value in counts.items():
                        cw.metric_data.append(
                            MetricDatum(ns, name, float(value), dims, ts, "Count"))
                published[key] = now_s


def _elb_metrics_loop():
    published, said = {}, set()
    while True:
        try:
            publish_elb_metrics(published, time.monotonic())
        except Exception as e:  # noqa: BLE001 - said once per message; the thread goes on
            msg = f"motoserver: ELB metrics: {type(e).__name__}: {e}"
            if msg not in said:
                said.add(msg)
                print(msg, file=sys.stderr, flush=True)
        time.sleep(ELB_METRICS_EVERY_S)


if __name__ == "__main__":
    # a daemon thread: the server's exit (SIGTERM -> sys.exit in moto's handler) does not wait
    if os.environ.get("LOCALAWS_ELB_METRICS", "1") != "0":  # start --no-elb-metrics
        threading.Thread(target=_elb_metrics_loop, name="elb-metrics", daemon=True).start()
    sys.exit(main())
