#!/usr/bin/env python3
"""The peer: a straightforward boto3 reconciler doing the same observation as bsupd's scaling
domain, for comparison. For each service, on a pool of threads: DescribeAutoScalingGroups of
its group, DescribeLaunchTemplateVersions of the version the group launches, then compare
MinSize/MaxSize and the instance type with the desired state. No batching, no cache, boto3's
default retries: what one would write in an afternoon.

    peer.py --services FILE.json [--threads 16] [--passes 2]

FILE.json: [{"name": "svc-0000-prod", "min_size": 1, "max_size": 4, "instance_type": ...}].
AWS settings come from the environment (AWS_ENDPOINT_URL, keys, region). Prints one JSON
object: per pass its wall time, epoch start/end (to split the proxy's log), verdicts, the
HTTP attempts per operation (botocore's before-send) and the errors."""
import argparse
import json
import sys
import threading
import time

T_START = time.monotonic()
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

T_IMPORTED = time.monotonic()


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
    asg = session.client("autoscaling", config=cfg)
    ec2 = session.client("ec2", config=cfg)
    for c in (asg, ec2):
        c.meta.events.register("before-send", on_send)
    t_clients = time.monotonic()

    def observe(svc):
        try:
            groups = asg.describe_auto_scaling_groups(
                AutoScalingGroupNames=[svc["name"]])["AutoScalingGroups"]
            if not groups:
                return "missing", None
            g = groups[0]
            lt = g.get("LaunchTemplate") or {}
            itype = None
            if lt:
                v = ec2.describe_launch_template_versions(
                    LaunchTemplateId=lt["LaunchTemplateId"],
                    Versions=[lt.get("Version") or "$Default"])["LaunchTemplateVersions"]
                itype = v[0]["LaunchTemplateData"].get("InstanceType") if v else None
            same = (g["MinSize"] == svc["min_size"] and g["MaxSize"] == svc["max_size"] and
                    itype == svc["instance_type"])
            return ("ok" if same else "drift"), None
        except Exception as e:  # noqa: BLE001 - an error is a verdict, the pass goes on
            return "error", f"{type(e).__name__}: {e}"[:300]

    from concurrent.futures import ThreadPoolExecutor
    passes = []
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        for i in range(args.passes):
            if i:
                time.sleep(args.pause_s)
            with lock:
                attempts.clear()
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


if __name__ == "__main__":
    main()
