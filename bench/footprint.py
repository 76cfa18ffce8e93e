"""Footprint and control plane without AWS: bsupd loading N services from drop-ins, with its
AWS endpoint a dead port on 127.0.0.1 and a day's interval, so nothing but loading and
serving is measured. Per case: `bsupd --check-config` (time, peak RSS), start to READY=1
(NOTIFY_SOCKET), RSS once ready, one status over the socket (answered? size, time),
`bsupctl status --json`, a reload. A case that fails shows as a figure ("not answered",
"refused"), never as a crash of the bench."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import bsupd as B
import procstat

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts", "localaws.d"))
import scenario  # noqa: E402

NET = {"vpc_id": "vpc-0a1b2c3d4e5f60718",
       "subnet_ids": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]}


def services(n, tmp):
    path = os.path.join(tmp, f"scenario-{n}.yaml")
    with open(path, "w") as f:
        f.write(scenario.generate(n))
    return scenario.load(path)["services"]


def dead_endpoint():
    """A bound, never listening TCP port: every connection is refused at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, f"http://127.0.0.1:{s.getsockname()[1]}"


def run(opt, cases, log):
    hold, url = dead_endpoint()
    ok, why = procstat.strace_usable() if opt.fsync else (False, "--no-fsync")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
               AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    tmp = tempfile.mkdtemp(prefix="bsup-bench-fp-")
    rows = []
    try:
        pool = {}
        for n, per_file in cases:
            if n not in pool:
                pool[n] = services(n, tmp)
            how = "one file each" if per_file == 1 else f"files of {per_file}"
            log(f"footprint: {n} services in {how}")
            rows.append(one_case(opt, env, pool[n], n, per_file, ok))
    finally:
        hold.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"aws_endpoint": f"{url} (dead: bound, not listening)", "rows": rows,
            "fsync_counting": "strace" if ok else why}


def one_case(opt, env, svcs, n, per_file, use_strace):
    settings = "region: us-east-1\ninterval: 1d\njitter: 0s\nlog_level: notice\n"
    b = B.Bsupd(opt.build, settings, env)
    sfile = os.path.join(b.root, "fsync.strace") if use_strace else None
    if sfile:
        b.wrapper = procstat.strace_prefix(sfile)
    row = {"services": n, "per_file": per_file}
    try:
        row["files"] = B.write_dropins(b.conf, svcs, NET, per_file=per_file)
        errp = os.path.join(b.root, "check.err")
        with open(errp, "wb") as errf:
            r = procstat.run_measured([os.path.join(opt.build, "bsupd"), "-c", b.settings,
                                       "--config-dir", b.conf, "--check-config"], env=b.env,
                                      stderr=errf, timeout_s=600)
        with open(errp, errors="replace") as f:
            lines = [x for x in f.read().splitlines() if x.strip()]
        row["check_config"] = {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"],
                               "maxrss_kib": r["maxrss_kib"], "exit": r["returncode"],
                               "message": lines[-1][:300] if (r["returncode"] and lines) else None}

        st = b.start(ready_timeout_s=300)
        row["ready"] = st.get("ready", False)
        row["ready_s"] = st.get("ready_s")
        row["fsyncs_to_ready"] = procstat.fsyncs(sfile)
        if not st.get("ready"):
            row["error"] = st.get("error")
            return row
        row["status_line"] = st.get("status_line")
        row["mem_kib_ready"] = st.get("mem_kib_ready")  # loaded, before any request
        s = b.status(timeout_s=60)
        row["mem_kib"] = b.mem_kib()  # once a whole status (every page) is answered
        if s.get("error"):
            row["status"] = {"answered": False, "error": s["error"], "seconds": s.get("seconds"),
                             "bytes": s.get("bytes"), "daemon_log": b.loglast("control")}
        else:
            rep = s["reply"]
            load = (rep.get("daemon") or {}).get("last_load") or {}
            page = len(rep.get("services") or [])
            row["status"] = {"answered": True, "seconds": s["seconds"], "bytes": s["bytes"],
                             "services": s["services"], "pages": s["pages"],
                             "first_page": page, "total": rep.get("total"),
                             "protocol": rep.get("protocol"),
                             "files_rejected": load.get("files_rejected"),
                             "load_errors": [e if isinstance(e, str) else e.get("message")
                                             for e in (load.get("errors") or [])][:3]}
        rc, secs, _out, err = b.ctl("status", "--json", timeout_s=60)
        row["bsupctl_status"] = {"exit": rc, "seconds": secs,
                                 "stderr": err.strip()[:300] or None}
        t0 = time.monotonic()
        r = b.request({"cmd": "reload"}, timeout_s=300)
        row["reload"] = {"seconds": time.monotonic() - t0, "ok": not r.get("error"),
                         "error": r.get("error")}
        row["mem_kib_after_reload"] = b.mem_kib()
        row["stop_rc"] = b.stop()
    except (OSError, subprocess.SubprocessError) as e:
        row["error"] = f"{type(e).__name__}: {e}"
    finally:
        b.cleanup()
    return row
