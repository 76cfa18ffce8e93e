#!/usr/bin/env python3
"""Authorisation on the control socket. The socket is 0666 and the peer's credentials
(SO_PEERCRED and the groups of the connecting process) decide. Here read_group is nogroup and
admin_group is users (a temporary bsupd.yaml): a reader may read and is refused changes with a
clear message; a member of admin_group only (primary or supplementary, not in read_group) may
read and change; a client in neither group is told permission_denied by bsupd itself instead
of meeting a silent EACCES. Needs root to drop privileges with setpriv."""
import grp
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import BSUPCTL, Daemon, check, skip  # noqa: E402

if os.geteuid() != 0:
    skip("needs root to run bsupctl as another user (setpriv)")
if not shutil.which("setpriv"):
    skip("setpriv (util-linux) is not installed")
try:
    nogroup = grp.getgrnam("nogroup").gr_gid
    users = grp.getgrnam("users").gr_gid
    grp.getgrnam("daemon")
except KeyError:
    skip("groups nogroup, users and daemon are needed")

d = Daemon(settings="log_level: debug\ninterval: 1d\nread_group: nogroup\nadmin_group: users\n")
d.start()
st = os.stat(d.sock)
check(stat.S_IMODE(st.st_mode) == 0o666, "socket mode %o" % stat.S_IMODE(st.st_mode))

# A reader (bsupctl must be reachable by nobody: the build tree is usually world-readable).
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

# A member of admin_group only, not of read_group: as its primary group, then as a
# supplementary one. It reads and it changes (the documented setup: bsup-admin alone).
for who, prefix in (("primary", ["setpriv", "--reuid=nobody", "--regid=users",
                                 "--clear-groups"]),
                    ("supplementary", ["setpriv", "--reuid=nobody", "--regid=daemon",
                                       "--groups=%d" % users])):
    r = d.ctl("status", prefix=prefix)
    check(r.returncode == 0, "admin_group only (%s) may read: %d %s" % (who, r.returncode,
                                                                       r.stderr))
    r = d.ctl("pause", prefix=prefix)
    check(r.returncode == 0 and "paused" in r.stdout,
          "admin_group only (%s) may pause: %d %s" % (who, r.returncode, r.stderr))
    r = d.ctl("resume", prefix=prefix)
    check(r.returncode == 0, "admin_group only (%s) may resume: %s" % (who, r.stderr))
    r = d.ctl("reload", prefix=prefix)
    check(r.returncode == 0, "admin_group only (%s) may reload: %s" % (who, r.stderr))
check(d.ctl_json("status")["daemon"]["paused"] is False, "resumed")

# In no allowed group: bsupd answers permission_denied (it is not the socket file's mode that
# keeps the client out), naming both groups; every time, whatever the command.
outsider = ["setpriv", "--reuid=nobody", "--regid=daemon", "--clear-groups"]
for cmd in ("status", "events", "pause", "status"):
    r = d.ctl(cmd, prefix=outsider)
    check(r.returncode == 2 and "permission_denied" in r.stderr and "nogroup" in r.stderr and
          "users" in r.stderr and "uid 65534" in r.stderr,
          "outsider %s: %d %s" % (cmd, r.returncode, r.stderr))
check("control client refused reason=permission" in d.logtext(), "the refusal is logged")
check(d.ctl_json("status")["daemon"]["clients"] == 1, "outsiders hold no slot")

# Refused by the file system (a directory on the path closed to the user), not by bsupd: the
# hint says so, not which groups bsupd lets in (its socket lets everyone connect).
closed = tempfile.mkdtemp()
os.chmod(closed, 0o700)
os.symlink(d.sock, os.path.join(closed, "bsupd.sock"))
r = subprocess.run(outsider + [BSUPCTL, "--socket", os.path.join(closed, "bsupd.sock"), "status"],
                   capture_output=True, text=True, timeout=30)
check(r.returncode == 2 and "Permission denied" in r.stderr and
      "may not open the socket or search a directory on its path" in r.stderr and
      "group" not in r.stderr, "a closed directory: %d %s" % (r.returncode, r.stderr))
shutil.rmtree(closed)

# Root may change (the cycle itself fails without AWS here: exit 1, "needs attention").
d.ctl("reconcile", "--wait", expect=1)
rc, _ = d.stop()
check(rc == 0, "stop")
print("ok")
