#!/usr/bin/env python3
"""The bench's smoke test (ctest bench/smoke, label bench-smoke): the whole harness on 10
services with short windows, into a temporary file; passes when every figure the report
needs is there, bsupd made calls and provoked no throttling, and the peer read the services'
shared load balancer once a pass. Timing is not judged."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

with tempfile.TemporaryDirectory(prefix="bsup-bench-smoke-") as d:
    out = os.path.join(d, "smoke.json")
    p = subprocess.run([sys.executable, os.path.join(HERE, "bench.py"), "--quick", "--sizes",
                        "10", "--footprint-sizes", "10", "--idle-s", "2", "--status-calls",
                        "50", "--out", out], timeout=300)
    problems = []
    if p.returncode != 0:
        problems.append(f"bench.py exited {p.returncode}")
    try:
        res = json.load(open(out))
    except (OSError, ValueError) as e:
        print(f"FAIL no figures: {e}")
        sys.exit(1)
    s = (res.get("sizes") or [{}])[0]
    for key in ("cold", "daemon_first", "warm"):
        row = s.get(key) or {}
        if not row.get("calls_total") or row.get("wall_s") is None or row.get("error"):
            problems.append(f"{key}: {row.get('error') or 'no calls or no time'}")
        if row.get("throttles_total"):
            problems.append(f"{key}: {row['throttles_total']} throttles")
        if not (row.get("floor") or {}).get("floor_s"):
            problems.append(f"{key}: no floor")
    for key in ("cold", "warm"):
        if not ((s.get("peer") or {}).get(key) or {}).get("calls_total"):
            problems.append(f"peer {key}: {(s.get('peer') or {}).get('error') or 'no calls'}")
        # the 10 services share one load balancer: the peer reads it once a pass, as bsupd does
        calls = (((s.get("peer") or {}).get(key) or {}).get("calls") or {})
        got = {a: calls.get(f"elasticloadbalancing:{a}", 0) for a in
               ("DescribeLoadBalancers", "DescribeListeners", "DescribeLoadBalancerAttributes",
                "DescribeSSLPolicies")}
        if got != {"DescribeLoadBalancers": 1, "DescribeListeners": 1,
                   "DescribeLoadBalancerAttributes": 1, "DescribeSSLPolicies": 0}:
            problems.append(f"peer {key}: posture calls {got}, not one shared load balancer "
                            "read once (and no TLS listener)")
    if not (s.get("status_idle") or {}).get("answered"):
        problems.append("status idle: not answered")
    if not any("median_ms" in v for v in (s.get("moto") or {}).values()):
        problems.append("moto: no time per call")
    fp = (res.get("footprint") or {}).get("rows") or [{}]
    if not fp[0].get("ready"):
        problems.append(f"footprint: {fp[0].get('error') or 'not ready'}")
    if not res.get("targets"):
        problems.append("no targets")
    for x in problems:
        print("FAIL " + x)
    print("bench smoke: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    sys.exit(1 if problems else 0)
