#!/usr/bin/env python3
"""The control socket at 10 000 services (a generated drop-in directory, no AWS needed) plus
three drop-ins with thousands of unknown keys each. status is answered: one request gets a
page within the 4 MiB reply cap and next_offset/next_from, a page asked for by name is the
same after a reload removed services before it, bsupctl follows the pages and shows all
10 000; plan and reload are answered; each config error is listed once and at most 20 per
file ("... and K more errors"). Then clients pipelining heavy events requests do not starve a
status request from another client."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import Daemon, check, fail  # noqa: E402

N_FILES = 100
PER_FILE = 100
N = N_FILES * PER_FILE
N_BAD = 3
BAD_KEYS = 3000
MAX_REPLY = 4 * 1024 * 1024
PAGE_ROWS = 5 * 512 * 1024
FILE_ERRORS_MAX = 20

SERVICE = """  - service_name: svc-%05d
    environment: prod
    vpc_id: vpc-0a1b2c3d4e5f60718
    subnet_ids: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
    database_name: db%05d
    database_username: admin
    database_password: ssm:/prod/svc-%05d/db
"""

files = {}
for f in range(N_FILES):
    files["%03d-gen.yaml" % f] = "services:\n" + "".join(
        SERVICE % (n, n, n) for n in range(f * PER_FILE, (f + 1) * PER_FILE))
for b in range(N_BAD):
    files["9%02d-bad.yaml" % b] = ("service_name: bad-%d\nenvironment: prod\n" % b +
                                   "".join("unknown_%d: 1\n" % k for k in range(BAD_KEYS)))

d = Daemon(settings="log_level: info\ninterval: 1d\n", files=files).start()


def raw(obj, timeout_s=120):
    """One request on its own connection: the reply and its size in bytes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    s.connect(d.sock)
    s.sendall(json.dumps(obj).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    s.close()
    check(buf.endswith(b"\n"), "no reply to %r (closed after %d bytes)" % (obj, len(buf)))
    return json.loads(buf), len(buf)


# One status request: a page that fits, and where to go on.
t0 = time.monotonic()
r, size = raw({"cmd": "status", "id": "page-1"})
print("figure: status page 1: %d services, %d bytes, %.2fs" % (len(r["services"]), size,
                                                             time.monotonic() - t0))
check(r["ok"] is True and r["id"] == "page-1", "status: %r" % {k: r[k] for k in r
                                                               if k != "services"})
check(size <= MAX_REPLY, "reply over the cap: %d" % size)
check(r["total"] == N and r["offset"] == 0 and r["next_offset"] == len(r["services"]) < N
      and r["next_from"] == "svc-%05d" % r["next_offset"],
      "paging fields: total %r offset %r next %r/%r rows %d" % (
          r["total"], r["offset"], r["next_offset"], r["next_from"], len(r["services"])))
check(r["attention"] is True, "rejected files need attention")
check("truncated" not in r, "a page is not a truncation")
# At most 2.5 MiB of rows a page (the row that would pass it begins the next page): a page is
# built whole, so this bounds the memory one status takes at any fleet size.
rows = [len(json.dumps(s, separators=(",", ":"), ensure_ascii=False).encode())
        for s in r["services"]]
check(sum(rows) + len(rows) - 1 <= PAGE_ROWS < sum(rows) + len(rows) + 2 * max(rows),
      "page 1: %d bytes of rows in %d rows" % (sum(rows) + len(rows) - 1, len(rows)))

# Each error once, at most 20 per file and a count of the rest.
load = r["daemon"]["last_load"]
check(load["errors"] == [], "errors about no single file only: %r" % load["errors"][:3])
bad = [f for f in load["file_list"] if not f["ok"]]
check(len(bad) == N_BAD and load["files_rejected"] == N_BAD, "rejected: %r" % bad)
for f in bad:
    errs = f["errors"]
    check(len(errs) == FILE_ERRORS_MAX + 1, "%s lists %d errors" % (f["name"], len(errs)))
    check(len(set(errs)) == len(errs), "%s: duplicates" % f["name"])
    check(errs[-1].startswith(f["name"] + ": \u2026 and ") and errs[-1].endswith(" more errors"),
          "%s: last line %r" % (f["name"], errs[-1]))
    more = int(errs[-1].split(" and ")[1].split()[0])
    check(more >= BAD_KEYS - FILE_ERRORS_MAX, "%s: %d more" % (f["name"], more))
log = d.logtext()

# An explicit page; the last one.
r, _ = raw({"cmd": "status", "offset": 9990, "limit": 5})
check([s["service"] for s in r["services"]] == ["svc-%05d" % n for n in range(9990, 9995)] and
      r["next_offset"] == 9995, "status offset/limit: %r" % r["services"][:1])
r, _ = raw({"cmd": "status", "offset": N - 1})
check(len(r["services"]) == 1 and r["next_offset"] is None, "last page")
r, _ = raw({"cmd": "status", "service": "svc-05000"})
check([s["service"] for s in r["services"]] == ["svc-05000"] and r["total"] == 1 and
      r["offset"] == 0 and r["next_from"] is None, "one service: %r" % r["services"][:1])
r, _ = raw({"cmd": "status", "service": "svc-05000", "offset": 1})
check(r["services"] == [] and r["total"] == 1 and r["next_from"] is None, "one service, offset 1")
r, _ = raw({"cmd": "status", "limit": 0})
check(r["ok"] is False and r["error"]["code"] == "bad_request", "limit 0: %r" % r)

# Pages by name: from the first service left out (next_from), whatever was added or removed
# in between. Offsets would skip the 100 services that come after the removed ones.
r, _ = raw({"cmd": "status", "from": "svc-09990", "limit": 5})
check([s["service"] for s in r["services"]] == ["svc-%05d" % n for n in range(9990, 9995)] and
      r["offset"] == 9990 and r["next_from"] == "svc-09995" and r["total"] == N and
      r["attention"] is True, "status from/limit: %r" % {
          k: r[k] for k in r if k not in ("services", "daemon")})
r, _ = raw({"cmd": "status", "from": "svc-99999"})
check(r["services"] == [] and r["offset"] == N and r["next_from"] is None, "from past the end")
for bad in ({"from": 3}, {"from": "svc-00001", "offset": 1}):
    r, _ = raw(dict(bad, cmd="status"))
    check(r["ok"] is False and r["error"]["code"] == "bad_request", "%r: %r" % (bad, r))
first, _ = raw({"cmd": "status", "limit": 150})
check(first["next_from"] == "svc-00150" and first["next_offset"] == 150, "page 1 of 150")
os.rename(os.path.join(d.conf, "000-gen.yaml"), os.path.join(d.root, "000-gen.yaml"))
d.ctl("reload", expect=1)
r, _ = raw({"cmd": "status", "from": first["next_from"], "limit": 3})
check([s["service"] for s in r["services"]] == ["svc-00150", "svc-00151", "svc-00152"] and
      r["total"] == N - PER_FILE and r["offset"] == 50,
      "the next page after a reload removed services before it: %r" % {
          k: r[k] for k in r if k != "daemon"})
os.rename(os.path.join(d.root, "000-gen.yaml"), os.path.join(d.conf, "000-gen.yaml"))
d.ctl("reload", expect=1)

# bsupctl follows the pages: all 10 000, once each, as one answer.
t0 = time.monotonic()
j = d.ctl_json("status", expect=1)
names = [s["service"] for s in j["services"]]
print("figure: bsupctl status --json at %d services: %.2fs" % (N, time.monotonic() - t0))
check(len(names) == N and len(set(names)) == N, "bsupctl status: %d rows, %d distinct" % (
    len(names), len(set(names))))
check(j["next_offset"] is None and j["next_from"] is None and j["total"] == N, "merged reply")
r = d.ctl("status", expect=1)
rows = [l for l in r.stdout.splitlines() if l.startswith("svc-")]
check(len(rows) == N, "status table rows: %d" % len(rows))
check(r.stdout.count("\u2026 and ") == N_BAD, "rejected files shown with their count")
j = d.ctl_json("plan", expect=1)  # as status: rejected files need attention
check(len(j["services"]) == N and j["attention"] is True, "plan: %d" % len(j["services"]))

# reload is answered, and lists each error once.
j = d.ctl_json("reload", expect=1)
check(j["loaded"]["files_rejected"] == N_BAD and j["loaded"]["services"] == N,
      "reload: %r" % {k: v for k, v in j["loaded"].items() if k != "file_list"})
r = d.ctl("reload", expect=1)
check(r.stdout.count("unknown key") == N_BAD * FILE_ERRORS_MAX, "reload lists:\n" + r.stdout)

# Heavy events (10 000 rows each, pipelined) from several clients do not starve a status.
r, size = raw({"cmd": "events", "limit": 10000})
check(r["ok"] is True and len(r["events"]) > 0 and size <= MAX_REPLY, "events: %d" % size)
N_HEAVY, PER_HEAVY = 6, 15
done_at = []
errors = []


def heavy():
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(300)
        s.connect(d.sock)
        s.sendall(b'{"cmd":"events","limit":10000}\n' * PER_HEAVY)
        got, buf = 0, b""
        while got < PER_HEAVY:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            got += buf.count(b"\n")
            buf = buf[buf.rfind(b"\n") + 1:]
        s.close()
        if got < PER_HEAVY:
            errors.append("heavy client got %d replies" % got)
        done_at.append(time.monotonic())
    except Exception as e:  # noqa: BLE001
        errors.append(repr(e))


threads = [threading.Thread(target=heavy) for _ in range(N_HEAVY)]
t0 = time.monotonic()
for t in threads:
    t.start()
time.sleep(0.2)  # let the heavy requests queue up first
r, _ = raw({"cmd": "status", "service": "svc-00042"})
status_at = time.monotonic()
for t in threads:
    t.join(timeout=300)
    if t.is_alive():
        fail("a heavy events client is stuck")
check(not errors, "heavy clients: %r" % errors)
check(r["ok"] is True and r["services"][0]["service"] == "svc-00042", "status: %r" % r)
print("figure: status answered after %.2fs while %d clients pipelined %d events(10000) each; "
      "they finished after %.2fs" % (status_at - t0, N_HEAVY, PER_HEAVY, max(done_at) - t0))
check(status_at < max(done_at), "status waited for all the heavy requests")

rc, _ = d.stop()
check(rc == 0, "stop: %d\n%s" % (rc, d.logtext()))
print("ok")
