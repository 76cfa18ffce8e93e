#!/usr/bin/env python3
"""Abuse of the control socket: 100 clients at once (64 are served, the rest get a
too_many_clients line), garbage, 1 MiB lines with and without a newline, a half line left
hanging, and a client that pipelines requests and never reads its replies (bsupd stops
serving it once its output backs up, and closes it when it has taken none for 30 s). Everyone
gets an answer or a clean error/close, the daemon keeps answering, and its VmRSS stays
bounded."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import Daemon, check, fail  # noqa: E402

N_CLIENTS = 100
RSS_GROWTH_LIMIT_KIB = 64 * 1024

# A small ASan quarantine so freed memory shows up as freed in the sanitizer build too.
env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"}
d = Daemon(settings="log_level: info\ninterval: 1d\n", env=env).start()
for _ in range(20):
    d.request({"cmd": "status"})
rss0 = d.rss_kib()

results = {}
lock = threading.Lock()
barrier = threading.Barrier(N_CLIENTS, timeout=60)


def read_line(s, limit=1 << 20):
    buf = b""
    while b"\n" not in buf and len(buf) < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n")[0] if b"\n" in buf else None


def record(kind, outcome):
    with lock:
        results.setdefault(kind, []).append(outcome)


def normal_client(i):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(d.sock)
        barrier.wait()  # all 100 connected at once
        try:
            s.sendall(json.dumps({"cmd": "status", "id": i}).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused clients may already be closed; their error line is still there
        line = read_line(s)
        if line is None:
            record("normal", "no answer")
            return
        r = json.loads(line)
        if r.get("ok") is True and r.get("id") == i:
            record("normal", "ok")
        elif r.get("error", {}).get("code") == "too_many_clients":
            record("normal", "too_many_clients")
        else:
            record("normal", "unexpected %r" % r)
    except Exception as e:  # noqa: BLE001
        record("normal", "exception %r" % e)
    finally:
        s.close()


def abuse_client(kind, payload):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(d.sock)
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        line = read_line(s)
        if line is None:
            record(kind, "closed")
        else:
            record(kind, json.loads(line).get("error", {}).get("code", "ok?"))
    except Exception as e:  # noqa: BLE001
        record(kind, "exception %r" % e)
    finally:
        s.close()


big = b"x" * (1 << 20)
abusers = []
for i in range(10):
    abusers.append(("garbage", os.urandom(200).replace(b"\n", b" ") + b"\n"))
for i in range(5):
    abusers.append(("huge_no_newline", big))
    abusers.append(("huge_json", b'{"cmd":"status","pad":"' + big + b'"}\n'))

# A half line left hanging, and a client that pipelines requests and never reads.
half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
half.connect(d.sock)
half.sendall(b'{"cmd":"sta')
slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
slow.connect(d.sock)
slow.settimeout(60)  # closed by bsupd after 30 s without taking any output
slow_result = []


def slow_writer():
    sent = 0
    try:
        for _ in range(20000):
            slow.sendall(b'{"cmd":"status"}\n')
            sent += 1
        slow_result.append("sent all %d" % sent)
    except (BrokenPipeError, ConnectionResetError):
        slow_result.append("closed by bsupd after %d" % sent)
    except socket.timeout:
        slow_result.append("blocked after %d" % sent)


def run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        if t.is_alive():
            fail("a client thread is stuck")


t0 = time.monotonic()
# Phase 1: 100 clients at once, while the slow client piles up output.
slow_thread = threading.Thread(target=slow_writer)
slow_thread.start()
run([threading.Thread(target=normal_client, args=(i,)) for i in range(N_CLIENTS)])
# Wait (bounded) until bsupd has seen phase 1's clients go: only the half-line client, the
# slow one (unless already closed) and this status request remain.
deadline = time.monotonic() + 20
while True:
    r = d.request({"cmd": "status"})
    if r.get("ok") and r["daemon"]["clients"] <= 3:
        break
    if time.monotonic() > deadline:
        fail("phase 1 clients still connected: %r" % r)
    time.sleep(0.05)
# Phase 2: garbage and 1 MiB lines, all at once (fewer than max_clients).
run([threading.Thread(target=abuse_client, args=a) for a in abusers])
slow_thread.join(timeout=60)
check(not slow_thread.is_alive(), "slow client stuck")
took = time.monotonic() - t0

normal = results.get("normal", [])
bad = [r for r in normal if r not in ("ok", "too_many_clients")]
check(not bad, "normal clients: %r" % bad)
check(len(normal) == N_CLIENTS, "answers: %d" % len(normal))
check(normal.count("ok") >= 30, "too few served: %d" % normal.count("ok"))
check(all(r == "bad_json" for r in results["garbage"]), "garbage: %r" % results["garbage"])
for kind in ("huge_no_newline", "huge_json"):
    check(all(r in ("line_too_long", "closed") for r in results[kind]),
          "%s: %r" % (kind, results[kind]))
check(slow_result and "closed by bsupd" in slow_result[0], "slow: %r" % slow_result)

# The daemon is still fine and answers everyone else.
r = d.request({"cmd": "status"})
check(r["ok"] is True, "status after abuse: %r" % r)
d.ctl("status", expect=0)
rss1 = d.rss_kib()
print("served=%d refused=%d slow=%s took=%.1fs rss %d -> %d KiB" % (
    normal.count("ok"), normal.count("too_many_clients"), slow_result, took, rss0, rss1))
check(rss1 - rss0 < RSS_GROWTH_LIMIT_KIB, "VmRSS grew by %d KiB" % (rss1 - rss0))

half.close()
slow.close()
rc, took = d.stop()
check(rc == 0, "stop after abuse: %s\n%s" % (rc, d.logtext()))
print("ok")
