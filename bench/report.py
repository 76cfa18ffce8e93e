"""Figures derived from the raw measurements (floors, ratios, per-call and per-service
figures), the engine team's targets checked against them, and the markdown report."""

BSUPD_CYCLES = (("cold", "cold", "cold `--once`"),
                ("daemon_first", "cold", "daemon 1st"),
                ("warm", "warm", "warm (daemon 2nd)"))
# the moto replay shape (motodirect.shapes) of each call, for bsupd and for the peer
BSUPD_SHAPES = {"autoscaling:DescribeAutoScalingGroups": "DescribeAutoScalingGroups x100",
                "ec2:DescribeLaunchTemplateVersions": "DescribeLaunchTemplateVersions x1",
                "ec2:DescribeLaunchTemplates": "DescribeLaunchTemplates x200"}
PEER_SHAPES = dict(BSUPD_SHAPES, **{
    "autoscaling:DescribeAutoScalingGroups": "DescribeAutoScalingGroups x1"})
MIB = 1024.0


def _moto_serial(calls, moto, shapes):
    """Seconds moto alone needs for these calls served one at a time (each at its fastest
    time straight at moto); None if a call has no replayed figure."""
    total = 0.0
    for key, k in (calls or {}).items():
        m = moto.get(shapes.get(key, ""), {})
        if "min_ms" not in m:
            return None
        total += k * m["min_ms"] / 1000.0
    return total


def derive(r, model, opt):
    """Adds floors and ratios to one size's raw figures (in place)."""
    n = r["n"]
    moto = r.get("moto") or {}
    for key, _cycle, _label in BSUPD_CYCLES:
        row = r.get(key)
        if not row or row.get("wall_s") is None:
            continue
        tokens = None
        if key == "warm" and row.get("started_after_s") is not None:
            # the daemon's buckets are what its first cycle left, refilled since
            first = r.get("daemon_first") or {}
            tokens = model.tokens_left(first.get("calls"), row["started_after_s"],
                                       first.get("first_call_after_s"))
        fl = model.floor(n, row.get("calls"), opt.latency_ms, start_tokens=tokens)
        row["floor"] = fl
        row["vs_floor"] = row["wall_s"] / fl["floor_s"] if fl["floor_s"] else None
        calls = row.get("calls_total") or 0
        row["calls_per_service"] = calls / n
        row["floor_calls_per_service"] = fl["calls_total"] / n
        row["cpu_ms_per_call"] = (row["cpu_s"] * 1000.0 / calls
                                  if calls and row.get("cpu_s") is not None else None)
        row["moto_serial_s"] = _moto_serial(row.get("calls"), moto, BSUPD_SHAPES)
        row["throttles_total"] = (row.get("throttles") or 0) + (row.get("bsupd_throttles") or 0)
    peer = r.get("peer") or {}
    for key in ("cold", "warm"):
        row = peer.get(key)
        if not row:
            continue
        row["calls_per_service"] = (row.get("calls_total") or 0) / n
        row["moto_serial_s"] = _moto_serial(row.get("calls"), moto, PEER_SHAPES)
        mine = r.get("cold" if key == "cold" else "warm") or {}
        if mine.get("wall_s") and row.get("wall_s"):
            row["peer_over_bsupd"] = row["wall_s"] / mine["wall_s"]


def _size(res, n):
    for s in res.get("sizes") or []:
        if s["n"] == n:
            return s
    return None


def _fp(res, n, per_file):
    for row in (res.get("footprint") or {}).get("rows") or []:
        if row["services"] == n and row["per_file"] == per_file:
            return row
    return None


def targets(res):
    """The engine team's targets (the issue), each with what was measured and whether it is
    met (True/False, None when not measured)."""
    out = []

    def add(what, measured, ok, note=None):
        out.append({"target": what, "measured": measured, "met": ok, "note": note})

    s100, s1000 = _size(res, 100), _size(res, 1000)
    lat = (res.get("options") or {}).get("latency_ms")
    if s100 and (s100.get("peer") or {}).get("cold", {}).get("peer_over_bsupd") is not None:
        v = s100["peer"]["cold"]["peer_over_bsupd"]
        add(f"100 services @{lat:g} ms: cold --once >= 3x faster than the boto3 peer",
            f"peer/bsupd = {v:.2f}", v >= 3.0)
    else:
        add("100 services: cold --once >= 3x faster than the boto3 peer", "not measured", None)
    for key, lim in (("cold", 1.3), ("warm", 1.05)):
        row = (s100 or {}).get(key) or {}
        v = row.get("calls_per_service")
        add(f"100 services: <= {lim} calls/service {key}",
            "not measured" if v is None else f"{v:.2f}", None if v is None else v <= lim)
    for key in ("cold", "warm"):
        row = (s1000 or {}).get(key) or {}
        v = row.get("vs_floor")
        moto = row.get("moto_serial_s")
        add(f"1000 services: {key} within 1.2x the floor",
            "not measured" if v is None else
            f"{row['wall_s']:.2f} s / {row['floor']['floor_s']:.2f} s = {v:.2f}x",
            None if v is None else v <= 1.2,
            f"moto alone needs {moto:.2f} s for these calls" if moto and v and v > 1.2
            else None)
    thr = [row.get("throttles_total") for s in (res.get("sizes") or [])
           for row in (s.get("cold"), s.get("daemon_first"), s.get("warm")) if row]
    thr = [t for t in thr if t is not None]
    add("no throttling (bsupd, every cycle)", f"{sum(thr)} throttles" if thr else "not measured",
        (sum(thr) == 0) if thr else None)
    for n, lim in ((10000, 32), (10, 8)):
        row = _fp(res, n, 1)
        note = None
        if n > 100 and not (row or {}).get("ready"):  # e.g. refused: over the drop-in cap
            row, note = _fp(res, n, 100), "in files of 100: one file each did not start"
        hwm = ((row or {}).get("mem_kib_ready") or {}).get("hwm")
        # judged on the peak once a whole status has been answered, not on loading alone
        peak = max(hwm or 0, ((row or {}).get("mem_kib") or {}).get("hwm") or 0) or None
        add(f"peak RSS < {lim} MiB with {n} services loaded",
            "not measured" if peak is None else
            f"{peak / MIB:.1f} MiB once a whole status is answered ({hwm / MIB:.1f} at READY)",
            None if peak is None else peak / MIB < lim, note)
    idle = None
    for s in res.get("sizes") or []:
        if s.get("idle"):
            idle = (s["n"], s["idle"])
    if idle and idle[1].get("cpu_percent") is not None:
        add("idle CPU < 0.1 % of a core (1000 services)",
            f"{idle[1]['cpu_percent']:.3f} % over {idle[1]['seconds']:.0f} s with {idle[0]} "
            "services", idle[1]["cpu_percent"] < 0.1,
            ("" if idle[0] == 1000 else f"measured with {idle[0]} services; ")
            + "once the cycles' datums were sent; sending them is in the control-plane table")
    else:
        add("idle CPU < 0.1 % of a core (1000 services)", "not measured", None)
    row = _fp(res, 10000, 1)
    if not (row or {}).get("ready"):
        row = _fp(res, 10000, 100) or row
    if row and row.get("ready_s") is not None:
        add("startup to READY < 1 s with 10 000 services", f"{row['ready_s']:.2f} s",
            row["ready_s"] < 1.0, f"{row['files']} files")
    else:
        add("startup to READY < 1 s with 10 000 services",
            (row or {}).get("error") or "not measured", None if not row else False)
    st = (s1000 or {}).get("status_during_cycle") or {}
    if st.get("p99_s") is not None:
        add("status p99 < 20 ms during a 1000-service cycle",
            f"{st['p99_s'] * 1000:.1f} ms ({st['answered']} calls)", st["p99_s"] < 0.020)
    else:
        add("status p99 < 20 ms during a 1000-service cycle", "not measured", None)
    fs = [(s["n"], k, s[k].get("fsyncs")) for s in (res.get("sizes") or [])
          for k in ("daemon_first", "warm") if s.get(k)]
    fs = [x for x in fs if x[2] is not None]
    if fs:
        worst = max(fs, key=lambda x: x[2])
        add("at most 3 fsyncs per cycle", f"up to {worst[2]} ({worst[1]}, {worst[0]} services)",
            worst[2] <= 3)
    else:
        add("at most 3 fsyncs per cycle", "not measured (no usable strace)", None)
    return out


def _f(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def _mib(kib):
    return None if kib is None else kib / MIB


def _calls(d):
    return ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted((d or {}).items())) or "—"


def markdown(res):
    m = res["machine"]
    o = res["options"]
    g = m.get("git") or {}
    b = res.get("build") or {}
    la = m.get("loadavg") or []
    le = m.get("loadavg_end") or []
    lines = [f"## bsup benchmark, {res['date']}" + (" (quick)" if res.get("quick") else ""), "",
             f"Machine: {m.get('nproc')} × {m.get('model')}, {m.get('mem_mib')} MiB, kernel "
             f"{m.get('kernel')}; load average {' '.join(map(str, la))} at start, "
             f"{' '.join(map(str, le))} at end. bsup {g.get('commit')} ({g.get('branch')}"
             f"{', uncommitted changes' if g.get('dirty') else ''}), "
             f"{b.get('CMAKE_BUILD_TYPE', '?')} build; moto {m.get('moto')}, boto3 "
             f"{m.get('boto3')}, Python {m.get('python')}.",
             f"Every AWS call: +{o['latency_ms']:g} ms at the fault proxy"
             + ("; the proxy throttles like AWS's published buckets" if o.get("aws_limits")
                else "; no AWS throttling emulated")
             + f". bsupd: {o['concurrency']} calls in flight per endpoint; rate limits "
             + (", ".join(f"{k} {b_:g}/{r:g}" for k, (b_, r) in o["rate_limits"].items())
                if o.get("rate_limits") else "the defaults") + ".", ""]

    if res.get("sizes"):
        lines += ["### Cycles", "",
                  "| N | cycle | wall s | floor s | bound | ×floor | calls | calls/svc | "
                  "calls by action | throttles | KiB in/out | peak RSS MiB | CPU s | "
                  "CPU ms/call | moto s | fsyncs |",
                  "|---:|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for s in res["sizes"]:
            if s.get("error") and not s.get("cold"):
                lines.append(f"| {s['n']} | — | failed: {s['error']} |" + " |" * 13)
                continue
            for key, _cyc, label in BSUPD_CYCLES:
                r = s.get(key)
                if not r:
                    continue
                if r.get("wall_s") is None:
                    lines.append(f"| {s['n']} | {label} | not measured: {r.get('error')} |"
                                 + " |" * 13)
                    continue
                fl = r.get("floor") or {}
                rss = r.get("maxrss_kib") or (r.get("mem_kib") or {}).get("hwm")
                err = f" ({r['error'][:60]})" if r.get("error") else ""
                lines.append(
                    f"| {s['n']} | {label}{err} | {_f(r['wall_s'])} | {_f(fl.get('floor_s'))} | "
                    f"{fl.get('bound', '—')} | {_f(r.get('vs_floor'), '.1f')} | "
                    f"{r.get('calls_total')} | {_f(r.get('calls_per_service'))} | "
                    f"{_calls(r.get('calls'))} | {r.get('throttles_total', '—')} | "
                    f"{_f(r.get('bytes_in', 0) / 1024, '.0f')}/"
                    f"{_f(r.get('bytes_out', 0) / 1024, '.0f')} | {_f(_mib(rss), '.1f')} | "
                    f"{_f(r.get('cpu_s'), '.3f')} | {_f(r.get('cpu_ms_per_call'), '.2f')} | "
                    f"{_f(r.get('moto_serial_s'))} | {_f(r.get('fsyncs'), 'd')} |")
        lines += ["", "wall: the cycle's elapsed time (`--once`: the whole process; daemon: "
                  "`bsupctl reconcile --wait`). floor: max(latency floor, rate floor) for the "
                  "work (bench/README.md). peak RSS: `--once` the process's peak (GNU time), "
                  "daemon VmHWM so far. moto s: what moto alone needs for the same calls served one "
                  "at a time (each at its fastest time straight at moto; moto overlaps calls "
                  "a little, so a cycle with calls in flight can beat it). fsyncs: fsync + "
                  "fdatasync during the cycle (strace).", ""]

        lines += ["### What the floor charges", "",
                  "| N | cycle | floor calls by action | latency floor | rate floor by family "
                  "((calls − tokens at start) ÷ rate) | charged as made |",
                  "|---:|---|---|---|---|---|"]
        for s in res["sizes"]:
            for key, _cyc, label in BSUPD_CYCLES:
                fl = (s.get(key) or {}).get("floor")
                if not fl:
                    continue
                fams = ", ".join(
                    f"{fam} ({v['calls']} − {v['tokens_at_start']:g}) ÷ {v['rate']:g} = "
                    f"{v['seconds']:.2f} s" for fam, v in sorted(fl["rate_by_family"].items())
                    if v["seconds"] > 0) or "every family within its tokens: 0"
                lines.append(
                    f"| {s['n']} | {label} | {_calls(fl.get('calls'))} ({fl['calls_total']}) | "
                    f"{fl['rounds']} rounds × {fl['latency_ms']:g} ms = {fl['latency_s']:.2f} s | "
                    f"{fams} | {_calls(fl.get('as_made'))} |")
        lines += ["", "floor calls: for each action the row made, the resources its calls "
                  "covered and the fewest calls the API's batch limit allows for them "
                  "(bench/floor.json). rounds: max(⌈floor calls ÷ concurrency⌉, the longest "
                  "chain of steps that need an earlier answer). Tokens at start: a full burst, "
                  "except the daemon's warm cycle: at most what its first cycle left, refilled "
                  "since (not while full: from bsupd's start to the family's first call).", ""]

        lines += ["### bsupd and the boto3 peer on the same work", "",
                  "| N | bsupd cold --once s | peer cold s | peer/bsupd | bsupd warm s | "
                  "peer warm s | peer/bsupd | peer calls/svc | peer throttles | peer errors | "
                  "peer CPU s (cold) | peer peak RSS MiB |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for s in res["sizes"]:
            p = s.get("peer") or {}
            if not p.get("cold"):
                lines.append(f"| {s['n']} | {_f((s.get('cold') or {}).get('wall_s'))} | "
                             f"failed: {p.get('error', 'not run')} |" + " |" * 9)
                continue
            pc, pw = p["cold"], p.get("warm") or {}
            errs = f"{(pc.get('verdicts') or {}).get('error', 0)}+" \
                f"{(pw.get('verdicts') or {}).get('error', 0)}"
            lines.append(
                f"| {s['n']} | {_f((s.get('cold') or {}).get('wall_s'))} | {_f(pc['wall_s'])} | "
                f"{_f(pc.get('peer_over_bsupd'))} | {_f((s.get('warm') or {}).get('wall_s'))} | "
                f"{_f(pw.get('wall_s'))} | {_f(pw.get('peer_over_bsupd'))} | "
                f"{_f(pc.get('calls_per_service'))} | {pc.get('throttles')}+"
                f"{pw.get('throttles', 0)} | {errs} | {_f(pc.get('cpu_s'), '.2f')} | "
                f"{_f(_mib(p['process'].get('maxrss_kib')), '.1f')} |")
        lines += ["", "peer: bench/peer.py, boto3 with default retries on "
                  f"{o['peer_threads']} threads, bsupd's observations one call per resource "
                  "(per service: its group, target group, target health, database, automated "
                  "snapshots, password parameter, bsupd's three alarms; bench/peer.py); its times are the passes alone "
                  "(Python start and the boto3 import, "
                  + ", ".join(f"{_f((s.get('peer') or {}).get('import_s'))} s at {s['n']}"
                              for s in res["sizes"] if (s.get("peer") or {}).get("import_s"))
                  + ", are left out; they would flatter bsupd). peer/bsupd > 1: bsupd is faster. "
                  "Throttles and errors (services the peer could not observe after its "
                  "retries): cold+warm; throttles by the proxy's AWS buckets.", ""]

        lines += ["### moto's own time per call", "",
                  "| N | call | straight at moto, ms (fastest / median) | through the proxy in "
                  "bsupd's cold cycle, ms (median, less the latency) |", "|---:|---|---:|---:|"]
        for s in res["sizes"]:
            up = (s.get("cold") or {}).get("upstream_ms_median_by_call") or {}
            inv = {v: k for k, v in BSUPD_SHAPES.items()}
            for shape, v in (s.get("moto") or {}).items():
                got = (f"{v['min_ms']:.1f} / {v['median_ms']:.1f}" if "min_ms" in v
                       else v.get("error", "—"))
                lines.append(f"| {s['n']} | {shape} | {got} | "
                             f"{_f(up.get(inv.get(shape)), '.1f', '')} |")
        lines.append("")

        lines += ["### Control plane with AWS", "",
                  "| N | READY s (fsyncs) | status idle median / p99 ms | status while cycles run "
                  "median / p99 ms (calls, cycles) | status KiB (pages) | status CPU ms/call | "
                  "bsupctl status s | publishing the cycles' datums | idle CPU % |",
                  "|---:|---:|---|---|---:|---:|---:|---|---:|"]
        for s in res["sizes"]:
            si = s.get("status_idle") or {}
            sd = s.get("status_during_cycle") or {}
            ds = s.get("daemon_start") or {}
            idle = s.get("idle") or {}
            pub = s.get("publish") or {}
            pub_s = "—" if pub.get("cpu_s") is None else (
                f"not waited for ({pub.get('queued')} datums queued)" if not pub.get("datums")
                and not pub.get("drained") else
                f"{pub.get('datums')} datums in {pub.get('calls')} calls, "
                f"{pub['cpu_s'] * 1000:.0f} ms CPU ({_f(pub.get('cpu_ms_per_1000'), '.1f')} ms "
                f"per 1000)" + ("" if pub.get("drained") else ", not drained"))

            def ms(x, y):
                return f"{_f(x and x * 1000, '.1f')} / {_f(y and y * 1000, '.1f')}"
            bad = f", {sd['failed']} not answered" if sd.get("failed") else ""
            bad_i = f", {si['failed']} not answered" if si.get("failed") else ""
            fs = f" ({ds['fsyncs']})" if ds.get("fsyncs") is not None else ""
            lines.append(
                f"| {s['n']} | {_f(ds.get('ready_s'))}{fs} | "
                f"{ms(si.get('median_s'), si.get('p99_s'))}"
                f"{bad_i} | {ms(sd.get('median_s'), sd.get('p99_s'))} ({sd.get('answered', 0)}"
                f"{bad}, {sd.get('cycles', 1)}) | {_f(si.get('reply_bytes') and si['reply_bytes'] / 1024, '.0f')}"
                f"{' (%d)' % si['pages'] if si.get('pages') else ''} | "
                f"{_f(si.get('cpu_ms_per_call'), '.2f')} | "
                f"{_f(si.get('bsupctl_median_s'), '.3f')} | {pub_s} | "
                f"{_f(idle.get('cpu_percent'), '.4f', '')}"
                + (f" ({idle['cpu_s'] * 1000:.1f} ms CPU in {idle['seconds']:.0f} s, "
                   f"{idle.get('aws_calls')} AWS calls, {idle.get('fsyncs')} fsyncs)"
                   if idle and idle.get("cpu_s") is not None else "") + " |")
        lines += ["", "READY: spawn to READY=1 on NOTIFY_SOCKET (fsyncs until then). Status: "
                  "a whole status (its pages by next_from over one connection, as bsupctl asks) "
                  "over the socket, back to back when idle; every "
                  f"{o['status_every_s'] * 1000:.0f} ms while cycles run back to back (only polls "
                  "made during a cycle count). Status CPU: bsupd's CPU per whole status, idle. "
                  "Publishing: after the cycles, the wait until the outbox is empty (the "
                  "publisher sends every metrics.interval, 60 s); its CPU includes a status poll "
                  f"every 2 s. Idle: then {o['idle_s']:.0f} s, largest size only.", ""]

    fp = res.get("footprint")
    if fp:
        lines += ["### Footprint and loading, no AWS", "",
                  f"bsupd's AWS endpoint: {fp['aws_endpoint']}; interval 1d.", "",
                  "| services | files | check-config s | check-config peak RSS MiB | READY s "
                  "(fsyncs) | peak MiB at READY | RSS / peak MiB after a status | status | "
                  "bsupctl status | reload s |",
                  "|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"]
        for r in fp["rows"]:
            cc = r.get("check_config") or {}
            cc_s = _f(cc.get("wall_s"))
            if cc.get("exit"):
                cc_s += f" (exit {cc['exit']}: {(cc.get('message') or '')[:70]})"
            mem = r.get("mem_kib") or {}
            ready = r.get("mem_kib_ready") or {}
            ready_hwm = ready.get("hwm")
            split = (f" ({_mib(ready['file']):.1f} files + {_mib(ready['anon']):.1f} own)"
                     if ready.get("file") is not None and ready.get("anon") is not None else "")
            st = r.get("status") or {}
            if not r.get("ready"):
                status = f"not started: {(r.get('error') or '')[:160]}"
            elif st.get("answered"):
                status = (f"{st['services']} services, {st['bytes'] / 1024:.0f} KiB in "
                          f"{st['seconds'] * 1000:.0f} ms")
                if (st.get("pages") or 1) > 1:
                    status += f" ({st['pages']} pages)"
                if st.get("files_rejected"):
                    status += f"; {st['files_rejected']} files rejected"
                if st.get("load_errors"):
                    status += f": {st['load_errors'][0][:70]}"
            else:
                status = f"not answered: {(st.get('error') or '')[:70]}"
                if st.get("daemon_log"):
                    status += f"; bsupd logged: {st['daemon_log'].split(' ', 1)[-1][:110]}"
            bc = r.get("bsupctl_status") or {}
            meaning = {0: " (ok)", 1: " (attention)", 2: " (error)"}.get(bc.get("exit"), "")
            bcs = "—" if not bc else (f"exit {bc['exit']}{meaning}" +
                                      (f": {bc['stderr'][:60]}" if bc.get("stderr") else ""))
            rl = r.get("reload") or {}
            lines.append(
                f"| {r['services']} | {r.get('files')} | {cc_s} | "
                f"{_f(_mib(cc.get('maxrss_kib')), '.1f')} | {_f(r.get('ready_s'))}"
                + (f" ({r['fsyncs_to_ready']})" if r.get("fsyncs_to_ready") is not None
                   else "") + " | "
                f"{_f(_mib(ready_hwm), '.1f')}{split} | "
                f"{_f(_mib(mem.get('rss')), '.1f')} / {_f(_mib(mem.get('hwm')), '.1f')} | "
                f"{status} | {bcs} | "
                f"{_f(rl.get('seconds')) if rl.get('ok') else (rl.get('error') or '—')[:40]} |")
        lines += ["", "peak at READY: VmHWM when READY=1 arrives, before any request (loading "
                  "alone; the target's figure), and what is resident then: files (the program "
                  "and its shared libraries, RssFile) + own (heap and stacks, RssAnon). After a status: once "
                  "a whole status is answered (its pages by next_from over one connection, as "
                  "bsupctl asks; the target's figure is the peak then).", ""]

    lines += ["### Targets (the engine team's; not all met yet)", "",
              "| target | measured | met |", "|---|---|---|"]
    for t in res.get("targets") or []:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['target']} | {t['measured']}{note} | {met} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys
    # report.py FILE.json: the markdown report of committed figures, again
    with open(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json") as f:
        print(markdown(json.load(f)))
