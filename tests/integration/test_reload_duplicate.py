#!/usr/bin/env python3
"""Two drop-ins, one service_name, through a running bsupd and bsupctl reload: a stray copy
that sorts first does not take the service over; the file bsupd loaded it from keeps it (also
across a restart) until that file is gone, and then the copy takes it (docs/config.md, "Two
files, one service_name")."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import GOOD_API, GOOD_WORKER, Daemon, check  # noqa: E402

d = Daemon(files={"10-api.yaml": GOOD_API % 4, "20-worker.yaml": GOOD_WORKER % 4}).start()
rows = lambda j: {s["service"]: s for s in j["services"]}
first = rows(d.ctl_json("status"))["api"]
check(first["source_file"] == "10-api.yaml" and first["generation"] == 1, "api: %r" % first)

# The operator copies the drop-in to 05-dup.yaml, changes the bounds in the copy, reloads.
d.write("05-dup.yaml", GOOD_API % 8 + "min_size: 3\n")
d.write("20-worker.yaml", GOOD_WORKER % 5)  # another file's change still loads


def check_kept(j, what):
    files = {f["name"]: f for f in j["daemon"]["last_load"]["file_list"]}
    check(files["10-api.yaml"]["ok"] and not files["05-dup.yaml"]["ok"], what + ": %r" % files)
    check(files["05-dup.yaml"]["errors"] == [
        "05-dup.yaml:1:15: service_name api is already declared in 10-api.yaml (which bsupd "
        "loaded it from)"], what + ": %r" % files["05-dup.yaml"]["errors"])
    api = rows(j)["api"]
    check(api["source_file"] == "10-api.yaml" and api["generation"] == 1
          and api["content_hash"] == first["content_hash"] and api["config"] == "ok",
          what + ": api taken over: %r" % api)


r = d.ctl("reload", expect=1)
check("05-dup.yaml" in r.stdout and "rejected" in r.stdout, "reload output: " + r.stdout)
j = d.ctl_json("status", expect=1)
check_kept(j, "reload")
check(rows(j)["worker"]["generation"] == 2, "worker: %r" % rows(j)["worker"])
events = [e["message"] for e in d.ctl_json("events")["events"]
          if e["kind"] == "config.file_rejected"]
check(any(m.startswith("05-dup.yaml rejected") for m in events)
      and not any("10-api.yaml" in m.split(";")[0] for m in events), "events: %r" % events)

# The incumbent is the store's: a restart does not hand the service to the copy either.
rc, _ = d.stop()
check(rc == 0, "bsupd exit %s after SIGTERM:\n%s" % (rc, d.logtext()))
d.start()
check_kept(d.ctl_json("status", expect=1), "restart")

# Once its file is gone, the copy takes the service: a move, with its values.
os.unlink(os.path.join(d.conf, "10-api.yaml"))
d.ctl("reload", expect=0)
api = rows(d.ctl_json("status"))["api"]
check(api["source_file"] == "05-dup.yaml" and api["generation"] == 2
      and api["content_hash"] != first["content_hash"], "moved: %r" % api)
rc, _ = d.stop()
check(rc == 0, "bsupd exit %s after SIGTERM:\n%s" % (rc, d.logtext()))
