#!/usr/bin/env python3
"""Authorisation on the control socket: a client outside the allowed uids and groups is
refused changes with a clear message, reading works for the read group (here nogroup, set as
read_group in a temporary bsupd.yaml), also as a supplementary group (SO_PEERGROUPS), and
a client in no allowed group cannot even connect (socket mode 0660, group read_group).
Needs root to drop privileges with setpriv."""
import grp
import os
import shutil
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import Daemon, check, skip  # noqa: E402

if os.geteuid() != 0:
    skip("needs root to run bsupctl as another user (setpriv)")
if not shutil.which("setpriv"):
    skip("setpriv (util-linux) is not installed")
try:
    nogroup = grp.getgrnam("nogroup").gr_gid
    other = grp.getgrnam("daemon").gr_gid
except KeyError:
    skip("groups nogroup and daemon are needed")

d = Daemon(settings="log_level: debug\ninterval: 1d\nread_group: nogroup\nadmin_group: bsup-test-no-such\n")
d.start()
st = os.stat(d.sock)
check(stat.S_IMODE(st.st_mode) == 0o660, "socket mode %o" % stat.S_IMODE(st.st_mode))
check(st.st_gid == nogroup, "socket group %d, expected nogroup" % st.st_gid)

# bsupctl must be reachable by nobody (the build tree is usually world-readable).
nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
r = d.ctl("status", prefix=nobody)
check(r.returncode == 0, "nobody/nogroup may read: %d %s" % (r.returncode, r.stderr))
r = d.ctl("events", prefix=nobody)
check(r.returncode == 0, "nobody/nogroup may read events: %s" % r.stderr)
for cmd in ("reconcile", "reload", "pause", "resume"):
    r = d.ctl(cmd, prefix=nobody)
    check(r.returncode == 2, "%s as nobody: exit %d" % (cmd, r.returncode))
    check("may not %s" % cmd in r.stderr and "permission_denied" in r.stderr,
          "%s refusal message: %s" % (cmd, r.stderr))
check("control request refused" in d.logtext(), "refusals are logged")

# Reading through a supplementary group.
supp = ["setpriv", "--reuid=nobody", "--regid=daemon", "--groups=%d" % nogroup]
r = d.ctl("status", "--json", prefix=supp)
check(r.returncode == 0, "supplementary nogroup may read: %s" % r.stderr)

# No allowed group at all: the socket's mode keeps the client out, and bsupctl says why.
outsider = ["setpriv", "--reuid=nobody", "--regid=daemon", "--clear-groups"]
r = d.ctl("status", prefix=outsider)
check(r.returncode == 2 and d.sock in r.stderr and "ermission denied" in r.stderr,
      "outsider: %d %s" % (r.returncode, r.stderr))

# Root may change (the cycle itself fails without AWS here: exit 1, "needs attention").
d.ctl("reconcile", "--wait", expect=1)
rc, _ = d.stop()
check(rc == 0, "stop")
print("ok")
