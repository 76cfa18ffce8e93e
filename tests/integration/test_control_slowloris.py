#!/usr/bin/env python3
"""Slow-drip clients against the control socket. Readers (nobody, daemon, bin and sys, group
nogroup, through setpriv) open more connections than there are reader slots and send one byte
every 2 s on each, which used to hold every slot forever. Now: one user holds at most 16
reader slots (another reader user gets in while one drips); the slots kept for root and
admin_group let root pause and an admin_group member resume while every reader slot is held;
each dripping line is cut at the request deadline (10 s from its first byte) with
request_timeout; and readers get in again afterwards. Needs root to drop privileges with
setpriv."""
import grp
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import Daemon, check, fail, poll, skip  # noqa: E402

if os.geteuid() != 0:
    skip("needs root to run clients as another user (setpriv)")
if not shutil.which("setpriv"):
    skip("setpriv (util-linux) is not installed")
try:
    grp.getgrnam("nogroup")
    grp.getgrnam("users")
except KeyError:
    skip("groups nogroup and users are needed")

N_DRIP = 18  # per user: more than the 16 one user may hold
USERS = ("nobody", "daemon", "bin", "sys")  # 4 x 16 > the 56 reader slots (64, 8 for admins)
PER_UID = 16
REQUEST_TIMEOUT_S = 10

# Opens n connections, sends "{" and then one space every 2 s on each, and reports per
# connection the first line bsupd sent and after how long (from its first byte).
DRIPPER = r"""
import json, socket, sys, time
n, sock = int(sys.argv[1]), sys.argv[2]
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.setblocking(False)
    conns.append({"s": s, "t0": time.monotonic(), "buf": b"", "line": None, "after": None})
    try:
        s.send(b"{")
    except OSError:
        pass
print("connected", flush=True)
deadline = time.monotonic() + 60
last_drip = time.monotonic()
while time.monotonic() < deadline and any(c["line"] is None for c in conns):
    now = time.monotonic()
    for c in conns:
        if c["line"] is not None:
            continue
        try:
            chunk = c["s"].recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            chunk = b""
        c["buf"] += chunk
        if b"\n" in c["buf"] or not chunk:
            c["line"] = c["buf"].split(b"\n")[0].decode(errors="replace")
            c["after"] = now - c["t0"]
    if now - last_drip >= 2:
        last_drip = now
        for c in conns:
            if c["line"] is None:
                try:
                    c["s"].send(b" ")
                except OSError:
                    pass
    time.sleep(0.05)
print(json.dumps([{"line": c["line"], "after": c["after"]} for c in conns]), flush=True)
"""

d = Daemon(settings="log_level: info\ninterval: 1d\nread_group: nogroup\nadmin_group: users\n")
d.start()
reader = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
admin_only = ["setpriv", "--reuid=nobody", "--regid=users", "--clear-groups"]

def as_user(user):
    return ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"]


def drip(user):
    p = subprocess.Popen(as_user(user) + [sys.executable, "-c", DRIPPER, str(N_DRIP), d.sock],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(p.stdout.readline().strip() == "connected", f"dripper {user} did not connect")
    return p


t_start = time.monotonic()
drips = [drip(USERS[0])]
# One user holds at most its share; another reader user is still served.
poll(lambda: d.ctl_json("status")["daemon"]["clients"] >= PER_UID, "one user's share",
     timeout_s=REQUEST_TIMEOUT_S)
check(d.ctl_json("status")["daemon"]["clients"] < PER_UID + 2,
      "one user holds at most %d slots" % PER_UID)
r = d.ctl("status", prefix=as_user("games"))
check(r.returncode == 0, "another reader user while one drips: %d %s" % (r.returncode, r.stderr))
drips += [drip(u) for u in USERS[1:]]

# Every reader slot is taken...
poll(lambda: d.ctl_json("status")["daemon"]["clients"] >= 56, "the drippers to hold the slots",
     timeout_s=REQUEST_TIMEOUT_S)
r = d.ctl("status", prefix=as_user("games"))
check(r.returncode == 2 and "too_many_clients" in r.stderr,
      "a reader while the slots are held: %d %s" % (r.returncode, r.stderr))
# ...and the kill switch still works, for root and for admin_group.
d.ctl("pause", expect=0)
check(d.ctl_json("status")["daemon"]["paused"] is True, "root paused")
r = d.ctl("resume", prefix=admin_only)
check(r.returncode == 0, "admin_group resumes: %d %s" % (r.returncode, r.stderr))
held_s = time.monotonic() - t_start
check(held_s < REQUEST_TIMEOUT_S, "the checks ran while the slots were held (%.1fs)" % held_s)

results = []
for p in drips:
    try:
        out, err = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("a dripper is stuck")
    mine = json.loads(out.strip().splitlines()[-1])
    refused = [m for m in mine if m["line"] and "too_many_clients" in m["line"]]
    check(len(refused) >= N_DRIP - PER_UID, "each user gets at most %d slots" % PER_UID)
    results += mine
codes = {}
for res in results:
    code = json.loads(res["line"])["error"]["code"] if res["line"] else "closed"
    codes[code] = codes.get(code, 0) + 1
print("drippers: %r, longest held %.1fs" % (codes, max(r["after"] for r in results)))
check(codes.get("request_timeout", 0) >= 56 - 1, "drippers cut by the deadline: %r" % codes)
check(set(codes) <= {"request_timeout", "too_many_clients"}, "dripper outcomes: %r" % codes)
cut = [res["after"] for res in results if res["line"] and "request_timeout" in res["line"]]
check(all(REQUEST_TIMEOUT_S - 1 <= a <= REQUEST_TIMEOUT_S + 5 for a in cut),
      "cut after %.1f..%.1fs" % (min(cut), max(cut)))

# Readers are served again.
r = d.ctl("status", prefix=reader)
check(r.returncode == 0, "a reader after the drip: %d %s" % (r.returncode, r.stderr))
rc, _ = d.stop()
check(rc == 0, "stop")
print("ok")
