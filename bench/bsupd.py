"""Driving the real bsupd and bsupctl for the bench: a temporary tree (drop-ins, bsupd.yaml,
state, socket), start with NOTIFY_SOCKET to catch READY=1, the control protocol spoken
directly (for latency) or through bsupctl (for reconcile --wait), and a bounded stop.
Every wait is bounded; a failure comes back as an error string, never as an exception that
would end the run."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import procstat


# the health check the seed gives every target group (scripts/localaws.d/scenario.py)
HEALTH_CHECK = {"path": "/health", "healthy_threshold": 3, "unhealthy_threshold": 3}


def dropin(svc, net):
    """One service's drop-in, matching what `localaws seed` built for it."""
    d = desired(svc)
    return (f"service_name: {svc['service_name']}\nenvironment: {svc['environment']}\n"
            f"vpc_id: {net['vpc_id']}\nsubnet_ids: [{', '.join(net['subnet_ids'])}]\n"
            f"database_name: {d['database_name']}\n"
            f"database_username: {d['database_username']}\n"
            f"database_password: {d['database_password']}\n"
            f"instance_type: {d['instance_type']}\n"
            f"min_size: {d['min_size']}\nmax_size: {d['max_size']}\n"
            "health_check: {" + ", ".join(f"{k}: {v}" for k, v in HEALTH_CHECK.items()) + "}\n")


def desired(svc):
    """The desired state the drop-in declares, with the names bsupd derives from it (target
    group and database instance: <service_name>-<environment>): what the peer compares."""
    db = svc["service_name"].replace("-", "_")  # what seeding names the database and its user
    return {"name": svc["name"], "environment": svc["environment"],
            "instance_type": svc["instance_type"], "min_size": svc["min_size"],
            "max_size": svc["max_size"], "target_group": svc["name"],
            "health_check": dict(HEALTH_CHECK), "db_instance": svc["name"],
            "database_name": db, "database_username": f"{db}_admin",
            "database_password": f"ssm:/{svc['name']}/db"}


def write_dropins(conf, services, net, per_file=1):
    """Writes the services as drop-ins: one file each, or per_file services under
    `services:` in each file. Returns the number of files."""
    os.makedirs(conf, exist_ok=True)
    files = 0
    for i in range(0, len(services), per_file):
        chunk = services[i:i + per_file]
        if per_file == 1:
            text = dropin(chunk[0], net)
        else:
            text = "services:\n" + "".join(
                "  - " + dropin(s, net).rstrip("\n").replace("\n", "\n    ") + "\n" for s in chunk)
        with open(os.path.join(conf, f"{i:05d}-{chunk[0]['name']}.yaml"), "w") as f:
            f.write(text)
        files += 1
    return files


class Bsupd:
    """One bsupd on a temporary tree. settings: bsupd.yaml text."""

    def __init__(self, build, settings, env, conf=None, root=None, wrapper=None):
        self.build = build
        self.root = root or tempfile.mkdtemp(prefix="bsup-bench-")
        self.conf = conf or os.path.join(self.root, "bsup.d")
        self.state = os.path.join(self.root, "state")
        self.sock = os.path.join(self.root, "bsupd.sock")
        self.settings = os.path.join(self.root, "bsupd.yaml")
        self.log = os.path.join(self.root, "bsupd.log")
        self.env = {k: v for k, v in env.items()
                    if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                                 "LISTEN_PID")}
        self.wrapper = wrapper or []  # e.g. strace ... --
        self.proc = None
        self.pid = None
        os.makedirs(self.conf, exist_ok=True)
        with open(self.settings, "w") as f:
            f.write(settings)

    def argv(self, *extra):
        return [os.path.join(self.build, "bsupd"), "-c", self.settings, "--config-dir", self.conf,
                "--state-dir", self.state, "--socket", self.sock, *extra]

    def fresh_state(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def logtail(self, n=600):
        """The end of the log, errors first: the lines that say why, not the warnings."""
        try:
            with open(self.log, errors="replace") as f:
                lines = [x for x in f.read().splitlines() if x.strip()]
        except OSError:
            return ""
        bad = [x for x in lines if " error " in x or " crit " in x or "fatal" in x]
        # without the timestamp: the level and the message are what a reader needs
        return " | ".join(x.split(" ", 1)[-1] for x in (bad or lines)[-2:])[-n:]

    def start(self, ready_timeout_s=120):
        """Starts bsupd with NOTIFY_SOCKET; returns {ready_s, ready, mem_kib_ready} (seconds from
        spawn to READY=1, memory then) or {error}. The daemon's pid comes from status (a wrapper may stand between)."""
        nsock_path = os.path.join(self.root, "notify.sock")
        if os.path.exists(nsock_path):
            os.unlink(nsock_path)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(nsock_path)
        env = dict(self.env, NOTIFY_SOCKET=nsock_path)
        logf = open(self.log, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.wrapper + self.argv(), env=env, stdout=logf,
                                     stderr=logf, start_new_session=True)
        logf.close()
        out = {"ready": False}
        deadline = t0 + ready_timeout_s
        try:
            while time.monotonic() < deadline:
                ns.settimeout(0.2)
                try:
                    data = ns.recv(65536).decode(errors="replace")
                except socket.timeout:
                    if self.proc.poll() is not None:
                        out["error"] = (f"bsupd exited with {self.proc.returncode} before READY=1: "
                                        f"{self.logtail()}")
                        return out
                    continue
                fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
                if fields.get("READY") == "1":
                    out.update(ready=True, ready_s=time.monotonic() - t0,
                               status_line=fields.get("STATUS"))
                    break
            else:
                out["error"] = f"no READY=1 within {ready_timeout_s}s"
                return out
        finally:
            ns.close()
            os.unlink(nsock_path)
        # the peak of loading alone, before any control request adds its reply's memory
        kids = procstat.children(self.proc.pid) if self.wrapper else []
        out["mem_kib_ready"] = procstat.mem_kib(kids[0] if kids else self.proc.pid)
        st = self.request({"cmd": "status"}, timeout_s=60)
        self.pid = ((st.get("reply") or {}).get("daemon", {}).get("pid") or
                    (kids[0] if kids else self.proc.pid))
        return out

    def request(self, obj, timeout_s=30):
        """One request over the control socket: {reply, seconds, bytes} or {error, seconds}."""
        return self.requests([obj], timeout_s)

    def status(self, timeout_s=30):
        """A whole status, as bsupctl gets it: the pages by next_from over one connection.
        {reply (the first page), seconds, bytes, pages, services} or {error, seconds}."""
        return self.requests([{"cmd": "status"}], timeout_s,
                             follow=lambda r: r.get("next_from") and
                             {"cmd": "status", "from": r["next_from"]})

    def requests(self, objs, timeout_s=30, follow=None):
        """Requests one after another over one connection, and after the last, while
        follow(reply) gives one, that. Figures of them all (seconds: less the time this
        harness spends parsing the replies, slow in Python); the first reply."""
        t0 = time.monotonic()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        first, size, pages, rows = None, 0, 0, 0
        try:
            s.settimeout(timeout_s)
            s.connect(self.sock)
            objs = list(objs)
            while objs:
                s.sendall(json.dumps(objs.pop(0)).encode() + b"\n")
                chunks, got = [], 0  # one reply line per request: nothing follows it
                while not chunks or not chunks[-1].endswith(b"\n"):
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        return {"error": f"connection closed after {size + got} bytes "
                                "without a reply line", "seconds": time.monotonic() - t0,
                                "bytes": size + got}
                    chunks.append(chunk)
                    got += len(chunk)
                line = b"".join(chunks)
                size += len(line)
                t_parse = time.monotonic()
                reply = json.loads(line)
                t0 += time.monotonic() - t_parse
                if not reply.get("ok"):
                    return {"error": json.dumps(reply.get("error")),
                            "seconds": time.monotonic() - t0, "bytes": size}
                first = first or reply
                pages += 1
                rows += len(reply.get("services") or [])
                nxt = follow(reply) if follow and not objs else None
                if nxt:
                    objs.append(nxt)
            return {"reply": first, "seconds": time.monotonic() - t0, "bytes": size,
                    "pages": pages, "services": rows}
        except (OSError, ValueError) as e:
            return {"error": f"{type(e).__name__}: {e}", "seconds": time.monotonic() - t0}
        finally:
            s.close()

    def ctl(self, *args, timeout_s=900):
        """bsupctl as an operator runs it: (returncode, seconds, stdout, stderr)."""
        t0 = time.monotonic()
        try:
            p = subprocess.run([os.path.join(self.build, "bsupctl"), "--socket", self.sock, *args],
                               capture_output=True, text=True, timeout=timeout_s, env=self.env)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - t0, "", f"bsupctl {' '.join(args)}: timed out"
        return p.returncode, time.monotonic() - t0, p.stdout, p.stderr

    def loglast(self, word):
        """The last log line containing word (what bsupd said about it), or None."""
        try:
            with open(self.log, errors="replace") as f:
                hits = [x.strip() for x in f if word in x]
        except OSError:
            return None
        return hits[-1][:300] if hits else None

    def cpu_s(self):
        return procstat.cpu_s(self.pid) if self.pid else None

    def mem_kib(self):
        return procstat.mem_kib(self.pid) if self.pid else None

    def stop(self, timeout_s=30):
        """SIGTERM, bounded wait, SIGKILL; returns the exit status (None if it was killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        target = self.pid if self.pid and self.pid != self.proc.pid else self.proc.pid
        try:
            os.kill(target, signal.SIGTERM)
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: bsupd and a wrapper
            self.proc.wait(timeout=10)
            return None
        except ProcessLookupError:
            return self.proc.wait(timeout=timeout_s)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
