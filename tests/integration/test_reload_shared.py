#!/usr/bin/env python3
"""Two services, one target group, through a running bsupd and bsupctl reload: a new service
that names the target group of a loaded one with another health check is refused (bsupd would
change the group back and forth); with the same health check it shares it; and when
either changes its health check alone, its file is the one rejected, both keeping what they
had; a service kept from a file rejected on its own is agreed with too
(docs/config.md, "Two services, one resource")."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import GOOD_API, Daemon, check  # noqa: E402

API = GOOD_API % 4 + "health_check: {path: %s}\n"
CANARY = (GOOD_API % 4).replace("service_name: api", "service_name: canary") + \
    "resources: {target_group: api-prod}\nhealth_check: {path: %s}\n"
FIX = (": bsupd would change it back and forth; make them equal, or give one service its own "
       "resources.target_group")

d = Daemon(files={"10-api.yaml": API % "/ready"}).start()
rows = lambda j: {s["service"]: s for s in j["services"]}
files = lambda j: {f["name"]: f for f in j["daemon"]["last_load"]["file_list"]}
first = rows(d.ctl_json("status"))["api"]

# A canary that sorts first names api's target group with another path: it is refused.
d.write("05-canary.yaml", CANARY % "/ping")
d.ctl("reload", expect=1)
j = d.ctl_json("status", expect=1)
f = files(j)
check(f["10-api.yaml"]["ok"] and not f["05-canary.yaml"]["ok"], "files: %r" % f)
check(f["05-canary.yaml"]["errors"] == [
    "05-canary.yaml:1:15: service canary uses target group api-prod, as does service api "
    "(10-api.yaml:1:1), with health_check.path \"/ready\" there and \"/ping\" here" + FIX],
    "errors: %r" % f["05-canary.yaml"]["errors"])
check("canary" not in rows(j) and rows(j)["api"]["generation"] == 1, "services: %r" % rows(j))

# The same path: the two share the group.
d.write("05-canary.yaml", CANARY % "/ready")
d.ctl("reload", expect=0)
j = d.ctl_json("status")
check(set(rows(j)) == {"api", "canary"}, "services: %r" % rows(j))

# Either file edited alone away from the path they share is the one rejected, wherever it
# sorts, its service keeping /ready: the group is never asked for two paths.
d.write("05-canary.yaml", CANARY % "/ping")
d.ctl("reload", expect=1)
f = files(d.ctl_json("status", expect=1))
check(f["10-api.yaml"]["ok"] and not f["05-canary.yaml"]["ok"], "files: %r" % f)
check(f["05-canary.yaml"]["errors"] == [
    "05-canary.yaml:1:15: service canary uses target group api-prod, as does service api "
    "(10-api.yaml:1:1), with health_check.path \"/ready\" there and \"/ping\" here" + FIX],
    "errors: %r" % f["05-canary.yaml"]["errors"])
d.write("05-canary.yaml", CANARY % "/ready")
d.write("10-api.yaml", API % "/health")
d.ctl("reload", expect=1)
j = d.ctl_json("status", expect=1)
f = files(j)
check(f["05-canary.yaml"]["ok"] and not f["10-api.yaml"]["ok"], "files: %r" % f)
check(f["10-api.yaml"]["errors"] == [
    "10-api.yaml:1:15: service api uses target group api-prod, as does service canary "
    "(05-canary.yaml:1:1), with health_check.path \"/ready\" there and \"/health\" here" + FIX],
    "errors: %r" % f["10-api.yaml"]["errors"])
api = rows(j)["api"]
check(api["generation"] == 1 and api["content_hash"] == first["content_hash"], "api: %r" % api)
# api's file now fails on its own, so api keeps its last good state (/ready); a new service
# that names api's group with /ping is refused against that state.
os.unlink(os.path.join(d.conf, "05-canary.yaml"))
d.write("10-api.yaml", "min_size: [\n")
d.write("30-web.yaml", (CANARY % "/ping").replace("service_name: canary", "service_name: web"))
d.ctl("reload", expect=1)
j = d.ctl_json("status", expect=1)
f = files(j)
check(not f["10-api.yaml"]["ok"] and not f["30-web.yaml"]["ok"], "files: %r" % f)
check(f["30-web.yaml"]["errors"] == [
    "30-web.yaml:1:15: service web uses target group api-prod, as does service api (kept from "
    "rejected 10-api.yaml), with health_check.path \"/ready\" there and \"/ping\" here" + FIX],
    "errors: %r" % f["30-web.yaml"]["errors"])
check(set(rows(j)) == {"api"} and rows(j)["api"]["generation"] == 1, "services: %r" % rows(j))
rc, _ = d.stop()
check(rc == 0, "bsupd exit %s after SIGTERM:\n%s" % (rc, d.logtext()))
