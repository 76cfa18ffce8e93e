#!/usr/bin/env python3
"""Plays systemd: NOTIFY_SOCKET as a datagram socket and WATCHDOG_USEC set. Asserts READY=1
only once the control socket accepts, STATUS=, watchdog pings at half the period,
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around SIGHUP, STOPPING=1 on SIGTERM, and
socket activation through LISTEN_FDS/LISTEN_PID."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import BSUPD, Daemon, check, fail, tmpdir, _procs  # noqa: E402

WATCHDOG_USEC = 1000000  # bsupd pings every 0.5 s


class Notify:
    def __init__(self):
        self.path = os.path.join(tmpdir(), "notify.sock")
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(self.path)
        self.msgs = []  # (monotonic time, {key: value})

    def recv_until(self, pred, timeout_s, proc=None):
        """Reads datagrams until pred(fields) holds; returns those fields. Bounded in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
            try:
                data = self.s.recv(4096)
            except socket.timeout:
                if proc is not None and proc.poll() is not None:
                    fail("bsupd exited with %s while waiting" % proc.returncode)
                continue
            fields = dict(l.split("=", 1) for l in data.decode().splitlines() if "=" in l)
            self.msgs.append((time.monotonic(), fields))
            if pred(fields):
                return fields
        fail("no matching notification within %ss; got %r" % (timeout_s,
                                                              [m[1] for m in self.msgs]))


n = Notify()
d = Daemon(env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
d.start(wait=False)
ready = n.recv_until(lambda f: f.get("READY") == "1", 30, d.proc)
check(d.accepts(), "READY=1 sent before the control socket accepts")
check("STATUS" in ready and "2 services" in ready["STATUS"] and "never reconciled" in
      ready["STATUS"], "STATUS with READY: %r" % ready)

# Watchdog cadence: 0.5 s expected, so about 6 pings in 3 s; generous bounds for a busy CI.
t0 = time.monotonic()
window_s = 3.0
pings = 0
while time.monotonic() - t0 < window_s:
    n.s.settimeout(max(0.01, window_s - (time.monotonic() - t0)))
    try:
        data = n.s.recv(4096)
    except socket.timeout:
        break
    if b"WATCHDOG=1" in data:
        pings += 1
check(3 <= pings <= 10, "watchdog pings in %.0fs: %d (expected about 6)" % (window_s, pings))

# Reload: RELOADING=1 with MONOTONIC_USEC, then READY=1.
n.msgs.clear()
d.proc.send_signal(signal.SIGHUP)
rel = n.recv_until(lambda f: f.get("RELOADING") == "1", 10, d.proc)
check(rel.get("MONOTONIC_USEC", "").isdigit(), "RELOADING without MONOTONIC_USEC: %r" % rel)
n.recv_until(lambda f: f.get("READY") == "1", 10, d.proc)

# A status change is reported: pause shows in STATUS=.
d.ctl("pause", expect=0)
n.recv_until(lambda f: "paused" in f.get("STATUS", ""), 10, d.proc)
d.ctl("resume", expect=0)

# Stop: STOPPING=1, exit 0.
d.proc.send_signal(signal.SIGTERM)
n.recv_until(lambda f: f.get("STOPPING") == "1", 10, d.proc)
rc = d.proc.wait(timeout=15)
check(rc == 0, "exit %s after SIGTERM" % rc)

# Without NOTIFY_SOCKET nothing is sent and nothing breaks; WATCHDOG_PID of another process
# means the watchdog is not ours.
d2 = Daemon(env={"WATCHDOG_USEC": str(WATCHDOG_USEC), "WATCHDOG_PID": "1"})
d2.start()
d2.ctl("status", expect=0)
rc, _ = d2.stop()
check(rc == 0, "plain stop")
check("watchdog enabled" not in d2.logtext(), "watchdog must ignore another WATCHDOG_PID")

# Socket activation: bsupd uses the listening socket it is given (fd 3) and leaves its file.
d3 = Daemon(env={"NOTIFY_SOCKET": n.path})
os.makedirs(os.path.dirname(d3.sock))
lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lsock.bind(d3.sock)
lsock.listen(16)
fd = lsock.fileno()
argv = ["sh", "-c", 'exec 3<&%d %d<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"' % (fd, fd), "sh"]
argv += d3.argv()
logf = open(d3.log, "ab")
d3.proc = subprocess.Popen(argv, env=d3.env, stdout=logf, stderr=logf, pass_fds=(fd,))
logf.close()
_procs.append(d3.proc)
lsock.close()  # only bsupd holds it now
n.msgs.clear()
n.recv_until(lambda f: f.get("READY") == "1", 30, d3.proc)
j = d3.ctl_json("status")
check(len(j["services"]) == 2, "activated status")
rc, _ = d3.stop()
check(rc == 0, "activated stop: %s" % d3.logtext())
check(os.path.exists(d3.sock), "an activated socket file belongs to systemd, not bsupd")
print("ok")
