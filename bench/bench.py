#!/usr/bin/env python3
"""bsup's benchmark harness (entry point: scripts/bench; bench/README.md says what each
figure means). Cycles of N services against the local AWS with a per-call latency, each
beside its floor, a boto3 peer on the same work, and the footprint and control plane
without AWS. Prints a markdown report and writes bench/results/latest.json (and .md) plus a
dated copy."""
import argparse
import datetime
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import awsbench  # noqa: E402
import floor  # noqa: E402
import footprint  # noqa: E402
import procstat  # noqa: E402
import report  # noqa: E402

SCHEMA = 1


def sizes(text):
    try:
        v = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,N,...: {text}")
    if not v or any(n < 1 for n in v):
        raise argparse.ArgumentTypeError(f"sizes must be positive: {text}")
    return v


def rate_limit(text):
    try:
        fam, br = text.split("=", 1)
        burst, rate = br.split(":", 1)
        return fam, (float(burst), float(rate))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FAMILY=BURST:RATE: {text}")


def parse(argv):
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=sizes, help="services per cycle benchmark (default "
                    "10,100,1000; --quick: 10,100)")
    ap.add_argument("--latency-ms", type=float, default=30.0,
                    help="latency the fault proxy adds to every AWS call (default 30)")
    ap.add_argument("--quick", action="store_true",
                    help="small and short: sizes 10,100, 5 s idle, 200 status calls, "
                         "footprint 10/1000/10000; writes bench/results/quick.json")
    ap.add_argument("--no-aws-limits", dest="aws_limits", action="store_false",
                    help="do not make the proxy throttle like AWS's published token buckets")
    ap.add_argument("--rate-limit", type=rate_limit, action="append", default=[],
                    metavar="FAMILY=BURST:RATE",
                    help="bsupd.yaml rate_limits entry for the cycles (and the floor)")
    ap.add_argument("--peer-threads", type=int, default=16)
    ap.add_argument("--idle-s", type=float, help="idle CPU window (default 60; --quick 5)")
    ap.add_argument("--drain-max-s", type=float,
                    help="longest wait, before the idle window, for the publisher to send the "
                         "cycles' datums (default 600; --quick 0: no wait, figure not taken)")
    ap.add_argument("--status-calls", type=int,
                    help="status calls idle, and at most during a cycle (default 1000)")
    ap.add_argument("--status-every-ms", type=float, default=50.0,
                    help="status polling period while cycles run (default 50)")
    ap.add_argument("--status-during-max-s", type=float,
                    help="longest time to run cycles back to back for status polls "
                         "(default 120; --quick 10)")
    ap.add_argument("--footprint-sizes", type=sizes,
                    help="services loaded without AWS (default 10,1000,10000; one drop-in "
                         "each, plus the largest in files of 100)")
    ap.add_argument("--no-footprint", dest="footprint", action="store_false")
    ap.add_argument("--no-cycles", dest="cycles", action="store_false")
    ap.add_argument("--no-fsync", dest="fsync", action="store_false",
                    help="do not run bsupd under strace to count fsyncs")
    ap.add_argument("--cycle-timeout-s", type=float, default=900.0)
    ap.add_argument("--build", default=os.environ.get("BSUP_BUILD_DIR") or
                    os.path.join(SRC, "build"))
    ap.add_argument("--out", help="JSON figures (default bench/results/latest.json and a dated "
                    "copy; --quick: bench/results/quick.json)")
    opt = ap.parse_args(argv)
    q = opt.quick
    opt.sizes = opt.sizes or ([10, 100] if q else [10, 100, 1000])
    opt.idle_s = opt.idle_s if opt.idle_s is not None else (5.0 if q else 60.0)
    opt.drain_max_s = opt.drain_max_s if opt.drain_max_s is not None else (0.0 if q else 600.0)
    opt.status_calls = opt.status_calls or (200 if q else 1000)
    opt.status_every_s = opt.status_every_ms / 1000.0
    opt.status_during_max_s = opt.status_during_max_s or (10.0 if q else 120.0)
    opt.footprint_sizes = opt.footprint_sizes or [10, 1000, 10000]
    opt.rate_limits = dict(opt.rate_limit)
    opt.build = os.path.abspath(opt.build)
    return opt


def main(argv=None):
    opt = parse(argv)
    for prog in ("bsupd", "bsupctl"):
        if not os.access(os.path.join(opt.build, prog), os.X_OK):
            sys.exit(f"bench: no {prog} in {opt.build} (scripts/build, or --build DIR)")
    model = floor.Model(SRC, opt.rate_limits)
    log = lambda m: print(f"bench: {m}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.time()
    res = {"schema": SCHEMA, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "quick": opt.quick, "machine": procstat.machine(SRC),
        "build": build_info(opt.build),
        "options": {"sizes": opt.sizes, "latency_ms": opt.latency_ms,
                    "aws_limits": opt.aws_limits, "rate_limits": opt.rate_limits,
                    "peer_threads": opt.peer_threads, "idle_s": opt.idle_s,
                    "status_calls": opt.status_calls, "status_every_s": opt.status_every_s,
                    "status_during_max_s": opt.status_during_max_s,
                    "concurrency": model.concurrency},
        "floor_model": {"work": model.work, "families": model.families},
        "sizes": [], "footprint": None}
    log(f"{res['machine']['nproc']} x {res['machine']['model']}, load {res['machine']['loadavg']}")
    if opt.cycles:
        for n in opt.sizes:
            r = awsbench.run_size(opt, model, n, measure_idle=(n == max(opt.sizes)))
            report.derive(r, model, opt)
            res["sizes"].append(r)
    if opt.footprint:
        big = max(opt.footprint_sizes)
        cases = [(n, 1) for n in opt.footprint_sizes]
        if big > 100:
            cases.append((big, 100))
        res["footprint"] = footprint.run(opt, cases, log)
    res["machine"]["loadavg_end"] = procstat.loadavg()
    res["seconds"] = time.time() - started
    res["targets"] = report.targets(res)

    text = report.markdown(res)
    print(text)
    paths = [opt.out] if opt.out else (
        [os.path.join(HERE, "results", "quick.json")] if opt.quick else
        [os.path.join(HERE, "results", "latest.json"),
         os.path.join(HERE, "results", datetime.date.today().isoformat() + ".json")])
    for p in paths:
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        with open(p + ".tmp", "w") as f:
            json.dump(res, f, indent=1, sort_keys=False)
            f.write("\n")
        os.replace(p + ".tmp", p)
        if p.endswith(".json"):  # the report beside its figures, for reading on the web
            with open(p[:-5] + ".md", "w") as f:
                f.write(text + "\n")
        log(f"figures written to {p}")
    failed = [s["n"] for s in res["sizes"] if s.get("error")]
    return 1 if failed else 0


def build_info(build):
    info = {"dir": build}
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                for key in ("CMAKE_BUILD_TYPE", "BSUP_SANITIZE", "BSUP_FAILPOINTS"):
                    if line.startswith(key + ":"):
                        info[key] = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return info


if __name__ == "__main__":
    sys.exit(main())
