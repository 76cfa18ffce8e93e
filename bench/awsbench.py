"""The cycle benchmarks for one size N, against the local AWS (scripts/localaws, --faults):
seed N lean services (an internal ALB per 50), then with the fault proxy adding a fixed
latency to every call (and, unless told otherwise, throttling like AWS's own token buckets):

  cold    bsupd --once on a fresh state directory
  daemon  bsupd started (READY=1 timed), a first cycle with `bsupctl reconcile --wait`, the
          warm cycle (a second one), status polled while cycles run back to back, idle CPU
          (largest size only) and status latency when idle
  peer    bench/peer.py (boto3, 16 threads), two passes: cold and warm
  moto    the same calls straight at moto, one at a time (motodirect.py)

Each measured window resets the proxy's counters first and reads its log after, so calls,
bytes and throttles are exactly the window's. Every step records an error string instead of
raising: a failure is a figure."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import bsupd as B
import motodirect
import procstat

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
LOCALAWS = os.path.join(SRC, "scripts", "localaws")
sys.path.insert(0, os.path.join(SRC, "scripts", "localaws.d"))
import scenario  # noqa: E402
import testlib  # noqa: E402

# services per internal ALB in the seeded fleet (localaws seed --shared-lbs; AWS: 100 rules a
# listener)
SHARED_LBS = 50
# the AWS services bench/peer.py calls, as the proxy names them
PEER_SERVICES = ("autoscaling", "ec2", "elasticloadbalancing", "rds", "elasticache", "ssm",
                 "secretsmanager", "monitoring")


def control(base, method, sub, body=None, timeout_s=30):
    req = urllib.request.Request(f"{base}/{sub}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as r:
        return json.loads(r.read())


class Window:
    """The proxy's view of one measured stretch of time."""

    def __init__(self, faults_url, latency_ms):
        self.url = faults_url
        self.latency_ms = latency_ms
        control(self.url, "DELETE", "counts")

    def close(self, settle_s=10):
        """Waits (bounded) until no call is pending, then summarises the log."""
        deadline = time.monotonic() + settle_s
        while True:
            log = control(self.url, "GET", "log", timeout_s=120)["entries"]
            if all(e["status"] != "pending" for e in log) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return summarise(log, self.latency_ms)


def summarise(entries, latency_ms):
    """Calls by action, bytes, throttles and other errors, upstream time (the proxy's time per
    call less the injected latency: moto's service time plus queueing) and peak in flight."""
    calls, http_errors = {}, {}
    throttles = 0
    upstream, by_call = [], {}
    b_in = b_out = 0
    events = []
    first = {}
    for e in entries:
        key = f"{e['service']}:{e['action']}"
        calls[key] = calls.get(key, 0) + 1
        first[key] = min(first.get(key, e["t"]), e["t"])
        b_in += e.get("bytes_in") or 0
        b_out += e.get("bytes_out") or 0
        if e.get("fault") == "throttle":
            throttles += 1
        elif e["status"] != 200:
            http_errors[str(e["status"])] = http_errors.get(str(e["status"]), 0) + 1
        if e.get("ms") is not None:
            if not e.get("fault"):
                upstream.append(max(0.0, e["ms"] - latency_ms))
                by_call.setdefault(key, []).append(max(0.0, e["ms"] - latency_ms))
            events += [(e["t"], 1), (e["t"] + e["ms"] / 1000.0, -1)]
    peak = cur = 0
    for _t, d in sorted(events):
        cur += d
        peak = max(peak, cur)
    return {"calls": calls, "calls_total": sum(calls.values()), "bytes_in": b_in,
            "bytes_out": b_out, "throttles": throttles, "http_errors": http_errors,
            "upstream_ms_median": procstat.percentile(upstream, 50),
            "upstream_ms_p90": procstat.percentile(upstream, 90),
            "upstream_ms_median_by_call": {k: procstat.percentile(v, 50)
                                           for k, v in by_call.items()},
            "peak_in_flight": peak, "first_call_t": first}


def api_throttles(status_reply):
    api = ((status_reply or {}).get("engine") or {}).get("api") or {}
    return sum(int(v.get("throttles") or 0) for v in api.values() if isinstance(v, dict))


def settings_text(region, rate_limits):
    s = (f"region: {region}\ninterval: 1d\njitter: 0s\nlog_level: notice\n"
         "# the bench asks for every cycle with bsupctl reconcile; a day's interval keeps the\n"
         "# daemon from starting one by itself\n")
    if rate_limits:
        s += "rate_limits:\n" + "".join(f"  {k}: {{burst: {b}, rate: {r}}}\n"
                                        for k, (b, r) in rate_limits.items())
    return s


def wait_elb_metrics(env, seeded, timeout_s=60):
    """Seconds until the local AWS has published the load balancers' target-health metrics of
    every seeded group (it does, as ELB, within ~10 s of a group's attachment and then every
    minute): in AWS an existing fleet has them, and a cold bsupd reads them first. Asked of moto
    directly (not through the proxy: no bsupd call is counted); bounded."""
    import boto3
    cw = boto3.client("cloudwatch", endpoint_url=env["BSUP_MOTO_URL"], region_name=env["AWS_REGION"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    groups = [(s["target_group_arn"].split(":", 5)[5], s["load_balancer_arn"].split(":loadbalancer/", 1)[1])
              for s in seeded["services"].values() if s.get("load_balancer_arn")]
    t0 = time.monotonic()
    while True:
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        missing = 0
        for k in range(0, len(groups), 500):
            queries = [{"Id": f"h{i}", "MetricStat": {"Metric": {
                "Namespace": "AWS/ApplicationELB", "MetricName": "HealthyHostCount",
                "Dimensions": [{"Name": "TargetGroup", "Value": tg},
                               {"Name": "LoadBalancer", "Value": lb}]},
                "Period": 300, "Stat": "Minimum"}} for i, (tg, lb) in enumerate(groups[k:k + 500])]
            r = cw.get_metric_data(MetricDataQueries=queries, EndTime=end,
                                   StartTime=end - datetime.timedelta(minutes=5))
            missing += sum(1 for x in r["MetricDataResults"] if not x["Values"])
        waited = time.monotonic() - t0
        if missing == 0:
            return waited
        if waited > timeout_s:
            raise RuntimeError(f"the local AWS published no ELB metrics for {missing} of "
                               f"{len(groups)} target groups in {timeout_s} s")
        time.sleep(1)


def run_size(opt, model, n, measure_idle):
    """All cycle figures for n services. opt: the parsed options; model: floor.Model."""
    out = {"n": n, "latency_ms": opt.latency_ms}
    d = tempfile.mkdtemp(prefix=f"bsup-bench-aws-{n}-")
    log = lambda m: print(f"bench: [{n}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        t0 = time.monotonic()
        subprocess.run([LOCALAWS, "start", "--dir", d, "--faults", "--owner", str(os.getpid())],
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        path = os.path.join(d, "scenario.yaml")
        with open(path, "w") as f:
            f.write(subprocess.run([LOCALAWS, "generate", str(n)], check=True,
                                   capture_output=True, text=True).stdout)
        log(f"seeding {n} lean services, {SHARED_LBS} per load balancer")
        t1 = time.monotonic()
        subprocess.run([LOCALAWS, "seed", "--dir", d, "--lean", "--shared-lbs", str(SHARED_LBS),
                        "--no-drift", path], check=True, timeout=1800, stdout=subprocess.DEVNULL)
        out["seed_s"] = time.monotonic() - t1
        out["localaws_start_s"] = t1 - t0
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(testlib.read_env(d))
        faults = env["BSUP_FAULTS_URL"]
        services = scenario.load(path)["services"]
        seeded = json.load(open(os.path.join(d, "seeded.json")))
        net = seeded["network"]
        out["elb_metrics_wait_s"] = wait_elb_metrics(env, seeded)
        templates = [seeded["services"][s["name"]]["launch_template_id"] for s in services]
        rules = [{"fault": "latency", "latency_ms": opt.latency_ms}]
        if opt.aws_limits:
            rules += model.aws_bucket_rules()
        control(faults, "PUT", "rules", {"rules": rules})
        out["proxy_rules"] = rules

        settings = settings_text(env["AWS_REGION"], opt.rate_limits)
        once_d = B.Bsupd(opt.build, settings, env)
        files = B.write_dropins(once_d.conf, services, net)
        out["files"] = files

        log("cold: bsupd --once")
        out["cold"] = measure_once(once_d, faults, opt)
        log(f"cold: {fmt(out['cold'])}")

        log("daemon: start, first cycle, warm cycle")
        out.update(measure_daemon(opt, settings, env, once_d.conf, faults, measure_idle, log))
        once_d.cleanup()

        log("peer: boto3, two passes")
        # the peer finds AWS's buckets full, as a reconciler on an interval would: before its
        # first pass the rules are set again (a rule's bucket starts full); between its
        # passes it waits until the buckets it draws from have refilled
        control(faults, "PUT", "rules", {"rules": rules})
        pause = max([r["bucket"]["burst"] / r["bucket"]["rate"] for r in rules
                     if r.get("bucket") and r["service"] in PEER_SERVICES] or [0.0])
        out["peer"] = measure_peer(opt, env, services, faults, d, pause)

        log("moto: the same calls straight at moto")
        wanted = ["DescribeAutoScalingGroups x100", "DescribeAutoScalingGroups x1",
                  "DescribeLaunchTemplateVersions x1"]
        extra = {"ec2:DescribeLaunchTemplates": "DescribeLaunchTemplates x200"}
        for key in (out["cold"].get("calls") or {}):
            if key in extra:
                wanted.append(extra[key])
        out["moto"] = motodirect.time_calls(env, [s["name"] for s in services], templates,
                                            wanted)
    except Exception as e:  # noqa: BLE001 - recorded; the other sizes still run
        out["error"] = f"{type(e).__name__}: {e}"
        log(f"failed: {out['error']}")
    finally:
        subprocess.run([LOCALAWS, "stop", "--dir", d], timeout=60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(d, ignore_errors=True)
    return out


def fmt(r):
    if r.get("error"):
        return "error: " + r["error"]
    return f"{r.get('wall_s', 0):.2f}s, {r.get('calls_total')} calls"


def measure_once(b, faults, opt):
    b.fresh_state()
    w = Window(faults, opt.latency_ms)
    with open(b.log, "ab") as logf:
        r = procstat.run_measured(b.argv("--once"), env=b.env, stderr=logf, stdout=logf,
                                  timeout_s=opt.cycle_timeout_s)
    r.update(w.close())
    # 1: a full cycle that found something to look at (findings, drift in observe mode): the
    # cycle is what is measured. 2 or a signal: it did not complete.
    if r["returncode"] not in (0, 1):
        r["error"] = f"bsupd --once exited {r['returncode']}: {b.logtail(400)}"
    return r


def drain_outbox(b, faults, opt, log):
    """Waits (at most --drain-max-s) until the publisher has sent every queued datum, the cycles' metrics: the
    idle window then holds no cycle's work. Returns what the drain took: datums, calls, CPU."""
    def metrics():
        r = b.request({"cmd": "status", "limit": 1}).get("reply") or {}
        return (r.get("daemon") or {}).get("metrics") or {}
    m0, c0, t0 = metrics(), b.cpu_s(), time.monotonic()
    w = Window(faults, opt.latency_ms)
    log(f"publish: waiting for {m0.get('outbox_depth')} queued datums to be sent")
    m = m0
    while m.get("outbox_depth") and time.monotonic() - t0 < opt.drain_max_s:
        time.sleep(2.0)  # status is the signal; each poll costs bsupd about a millisecond
        m = metrics()
    cpu, datums = _delta(b.cpu_s(), c0), _delta(m.get("datums"), m0.get("datums"))
    return {"seconds": time.monotonic() - t0, "queued": m0.get("outbox_depth"),
            "drained": not m.get("outbox_depth"),
            "datums": datums, "calls": w.close()["calls_total"], "cpu_s": cpu,
            "cpu_ms_per_1000": (cpu * 1e6 / datums) if cpu is not None and datums else None}


def measure_daemon(opt, settings, env, conf, faults, measure_idle, log):
    out = {}
    ok, why = procstat.strace_usable() if opt.fsync else (False, "--no-fsync")
    sfile = None
    b = B.Bsupd(opt.build, settings, env, conf=conf)
    if ok:
        sfile = os.path.join(b.root, "fsync.strace")
        b.wrapper = procstat.strace_prefix(sfile)
    out["fsync_counting"] = "strace -f --seccomp-bpf -e trace=fsync,fdatasync" if ok else why
    try:
        t_spawn = time.monotonic()  # bsupd's buckets are full when it starts (the warm floor)
        t_spawn_wall = time.time()  # the proxy's clock
        st = b.start()
        out["daemon_start"] = st
        if not st.get("ready"):
            out["daemon_error"] = st.get("error")
            return out
        fs_start = procstat.fsyncs(sfile)
        st["fsyncs"] = fs_start

        # first cycle (cold)
        before = b.request({"cmd": "status"}).get("reply")
        fs0 = procstat.fsyncs(sfile)
        w = Window(faults, opt.latency_ms)
        at = time.monotonic() - t_spawn
        c0 = b.cpu_s()
        rc, secs, _o, err = b.ctl("reconcile", "--wait", timeout_s=opt.cycle_timeout_s)
        first = {"wall_s": secs, "returncode": rc, "cpu_s": _delta(b.cpu_s(), c0),
                 "started_after_s": at, **w.close()}
        if rc not in (0, 1):
            first["error"] = f"bsupctl reconcile --wait: {rc} {err}"
        after = b.request({"cmd": "status"}).get("reply")
        first["bsupd_throttles"] = _delta(api_throttles(after), api_throttles(before))
        first["fsyncs"] = _delta(procstat.fsyncs(sfile), fs0)
        first["first_call_after_s"] = {k: t - t_spawn_wall
                                       for k, t in first.pop("first_call_t").items()}
        first["mem_kib"] = b.mem_kib()
        out["daemon_first"] = first
        log(f"daemon first cycle: {fmt(first)}")

        # warm cycle
        fs0 = procstat.fsyncs(sfile)
        w = Window(faults, opt.latency_ms)
        at = time.monotonic() - t_spawn
        c0 = b.cpu_s()
        rc, secs, _o, err = b.ctl("reconcile", "--wait", timeout_s=opt.cycle_timeout_s)
        warm = {"wall_s": secs, "returncode": rc, "cpu_s": _delta(b.cpu_s(), c0),
                "started_after_s": at, **w.close()}
        if rc not in (0, 1):
            warm["error"] = f"bsupctl reconcile --wait: {rc} {err}"
        after2 = b.request({"cmd": "status"}).get("reply")
        warm["bsupd_throttles"] = _delta(api_throttles(after2), api_throttles(after))
        warm["fsyncs"] = _delta(procstat.fsyncs(sfile), fs0)
        warm["mem_kib"] = b.mem_kib()
        out["warm"] = warm
        log(f"warm: {fmt(warm)}")

        out["status_during_cycle"] = status_during_cycles(b, opt, log)

        if measure_idle:
            out["publish"] = drain_outbox(b, faults, opt, log)
            log(f"idle: {opt.idle_s:.0f}s without a cycle")
            fs0 = procstat.fsyncs(sfile)
            w = Window(faults, opt.latency_ms)
            c0 = b.cpu_s()
            time.sleep(opt.idle_s)
            cpu = _delta(b.cpu_s(), c0)
            calls = w.close()["calls_total"]
            out["idle"] = {"seconds": opt.idle_s, "cpu_s": cpu,
                           "cpu_percent": 100.0 * cpu / opt.idle_s if cpu is not None else None,
                           "aws_calls": calls, "fsyncs": _delta(procstat.fsyncs(sfile), fs0)}

        # status latency when idle: back to back over the socket, then a few through bsupctl
        lat, failed, first_err, size, pages = [], [], None, None, None
        c0 = b.cpu_s()
        for _ in range(opt.status_calls):
            r = b.status(timeout_s=30)
            if r.get("error"):
                failed.append(r.get("seconds"))
                first_err = first_err or r["error"]
            else:
                lat.append(r["seconds"])
                size, pages = r.get("bytes"), r.get("pages")
        out["status_idle"] = latency_figures(lat, failed, first_err, reply_bytes=size)
        out["status_idle"]["pages"] = pages
        cpu = _delta(b.cpu_s(), c0)
        out["status_idle"]["cpu_ms_per_call"] = (cpu * 1000.0 / opt.status_calls
                                                 if cpu is not None else None)
        ctl = [b.ctl("status", "--json", timeout_s=60) for _ in range(10)]
        out["status_idle"]["bsupctl_median_s"] = procstat.percentile([c[1] for c in ctl], 50)
        out["status_idle"]["bsupctl_exit"] = sorted({c[0] for c in ctl if c[0] is not None})
        out["daemon_mem_kib"] = b.mem_kib()
        out["daemon_stop_rc"] = b.stop()
    finally:
        b.stop()
        shutil.rmtree(b.root, ignore_errors=True)
    return out


def status_during_cycles(b, opt, log):
    """Status latency while cycles run: cycles back to back (`reconcile --wait` in a thread),
    status polled every status_every_s meanwhile, until status_calls answers or
    status_during_max_s. Only polls made while a cycle runs count."""
    lat, failed, first_err = [], [], None
    cycles = 0
    running = threading.Event()
    stop = threading.Event()

    def cycler():
        nonlocal cycles
        while not stop.is_set():
            running.set()
            b.ctl("reconcile", "--wait", timeout_s=opt.cycle_timeout_s)
            running.clear()
            cycles += 1
    th = threading.Thread(target=cycler)
    th.start()
    t_end = time.monotonic() + opt.status_during_max_s
    try:
        while len(lat) + len(failed) < opt.status_calls and time.monotonic() < t_end:
            time.sleep(opt.status_every_s)
            if not running.is_set():
                continue
            r = b.status(timeout_s=30)
            if not running.is_set():
                continue  # the cycle ended meanwhile: not a poll during a cycle
            if r.get("error"):
                failed.append(r.get("seconds"))
                first_err = first_err or r["error"]
            else:
                lat.append(r["seconds"])
    finally:
        stop.set()
        th.join()
    out = latency_figures(lat, failed, first_err, every_s=opt.status_every_s)
    out["cycles"] = cycles
    log(f"status during {cycles} cycles: {out['answered']} answered, p99 "
        f"{(out['p99_s'] or 0) * 1000:.1f} ms")
    return out


def latency_figures(lat, failed, error, every_s=None, reply_bytes=None):
    r = {"calls": len(lat) + len(failed), "answered": len(lat), "failed": len(failed),
         "median_s": procstat.percentile(lat, 50), "p99_s": procstat.percentile(lat, 99),
         "max_s": max(lat) if lat else None}
    if every_s:
        r["every_s"] = every_s
    if reply_bytes:
        r["reply_bytes"] = reply_bytes
    if error:
        r["error"] = error
    return r


def _delta(a, b):
    return None if a is None or b is None else a - b


def measure_peer(opt, env, services, faults, d, pause_s):
    spath = os.path.join(d, "peer-services.json")
    with open(spath, "w") as f:
        json.dump([B.desired(s) for s in services], f)
    out_path = os.path.join(d, "peer-out.json")
    control(faults, "DELETE", "counts")
    with open(out_path, "w") as outf, open(os.path.join(d, "peer.err"), "w") as errf:
        r = procstat.run_measured([sys.executable, os.path.join(HERE, "peer.py"), "--services",
                                   spath, "--threads", str(opt.peer_threads), "--passes", "2",
                                   "--pause-s", str(pause_s)],
                                  env=env, stdout=outf, stderr=errf,
                                  timeout_s=opt.cycle_timeout_s * 2)
    deadline = time.monotonic() + 10
    while True:
        log = control(faults, "GET", "log", timeout_s=120)["entries"]
        if all(e["status"] != "pending" for e in log) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    res = {"process": r, "threads": opt.peer_threads, "pause_s": pause_s}
    try:
        with open(out_path) as f:
            p = json.load(f)
    except (OSError, ValueError) as e:
        with open(os.path.join(d, "peer.err")) as f:
            res["error"] = f"peer.py failed ({r['returncode']}): {e}: {f.read()[-400:]}"
        return res
    res["import_s"], res["clients_s"] = p["import_s"], p["clients_s"]
    names = ["cold", "warm"]
    for name, ps in zip(names, p["passes"]):
        entries = [e for e in log if ps["epoch_start"] - 0.001 <= e["t"] <= ps["epoch_end"] + 0.001]
        res[name] = {"wall_s": ps["wall_s"], "cpu_s": ps["cpu_s"], "verdicts": ps["verdicts"],
                     "attempts": ps["attempts"], "error_messages": ps["errors"],
                     **summarise(entries, opt.latency_ms)}
    return res
