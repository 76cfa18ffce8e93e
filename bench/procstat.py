"""What the bench reads about processes and the machine: /proc counters of a running process,
the rusage of a finished child (wait4), percentiles, and the machine's description.
Standard library only; every reader returns None instead of raising when /proc says no."""
import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
FSYNC_RE = re.compile(r"\b(fsync|fdatasync)\(")


def cpu_s(pid):
    """CPU seconds (user + system) of a live process, all its threads: the schedulers' ns
    counters (/proc/PID/task/*/schedstat) when present, else /proc/PID/stat in clock ticks."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def mem_kib(pid):
    """{'rss': VmRSS, 'hwm': VmHWM (peak RSS so far), 'anon': RssAnon (heap, stacks),
    'file': RssFile (mapped files: the program and its shared libraries)} in KiB, or None."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    out["hwm"] = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    out["anon"] = int(line.split()[1])
                elif line.startswith("RssFile:"):
                    out["file"] = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return out or None


def children(pid):
    """Direct children of pid (from /proc/PID/task/*/children)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


GNU_TIME = "/usr/bin/time"


def run_measured(argv, env=None, timeout_s=900, stdout=None, stderr=None, cwd=None):
    """Runs argv to completion; returns wall_s, cpu_s (user + system, from wait4), maxrss_kib
    and returncode. A child's ru_maxrss counts the memory of the process that forked it (Linux
    keeps the pre-exec peak), so a child of this Python would show Python's RSS: the peak is
    taken from GNU time (a 1-2 MiB parent) when installed, else from polling VmHWM
    (rss_source says which). A timeout kills the child and says so."""
    tfile = None
    if os.access(GNU_TIME, os.X_OK):
        fd, tfile = tempfile.mkstemp(prefix="bench-time-")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", tfile, *argv]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdout=stdout if stdout is not None else subprocess.DEVNULL,
                         stderr=stderr if stderr is not None else subprocess.DEVNULL, cwd=cwd)
    timed_out = []
    timer = threading.Timer(timeout_s, lambda: (timed_out.append(True), p.kill()))
    timer.start()
    hwm = [0]
    watching = threading.Event()

    def watch():  # the fallback: the child's own peak, read until it exits
        target = p.pid
        while not watching.wait(0.01):
            if tfile:  # under GNU time: its child is the program
                kids = children(p.pid)
                target = kids[0] if kids else None
            m = mem_kib(target) if target else None
            if m:
                hwm[0] = max(hwm[0], m.get("hwm", 0))
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
        watching.set()
    wall = time.monotonic() - t0
    watcher.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    maxrss, source = hwm[0] or None, "VmHWM polled every 10 ms"
    if tfile:
        try:
            with open(tfile) as f:
                lines = [line for line in f.read().splitlines() if line.strip()]
            maxrss, source = int(lines[-1]), "GNU time (%M)"
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(tfile)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime, "maxrss_kib": maxrss, "rss_source": source,
            "polled_hwm_kib": hwm[0] or None, "returncode": p.returncode,
            "timed_out": bool(timed_out)}


def percentile(values, q):
    """The q-th percentile (0..100) by nearest rank; None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(q / 100.0 * len(v)) - 1))
    return v[k]


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def machine(src):
    """The machine and the software the figures come from."""
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) // 1024
    except (OSError, AttributeError):
        pass
    versions = {}
    for mod in ("moto", "boto3"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing module is a figure, not a crash
            versions[mod] = None

    def git(*args):
        try:
            return subprocess.run(["git", "-C", src, *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    return {"nproc": os.cpu_count(), "model": model, "mem_mib": mem, "loadavg": loadavg(),
            "kernel": platform.release(), "python": platform.python_version(), **versions,
            "git": {"commit": git("rev-parse", "--short", "HEAD"),
                    "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
                    "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}}


def fsyncs(path):
    """fsync + fdatasync calls in a strace output file so far (None: no file)."""
    if not path:
        return None
    try:
        with open(path, errors="replace") as f:
            return sum(1 for line in f if FSYNC_RE.search(line))
    except OSError:
        return None


def strace_usable():
    """strace with seccomp-bpf (only the traced calls stop the process) works here."""
    if not shutil.which("strace"):
        return False, "strace is not installed"
    try:
        p = subprocess.run(["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=fsync",
                            "-o", "/dev/null", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"strace cannot run: {e}"
    if p.returncode != 0:
        return False, f"strace cannot trace here: {p.stderr.decode(errors='replace')[:200]}"
    return True, None


def strace_prefix(out_path):
    """The command prefix that counts a program's fsync + fdatasync into out_path."""
    return ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=fsync,fdatasync",
            "-e", "signal=none", "-o", out_path, "--"]
