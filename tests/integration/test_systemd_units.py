#!/usr/bin/env python3
"""The systemd units: systemd-analyze security --offline=true rates bsupd.service at 2.0 or
lower, and systemd-analyze verify reports nothing. verify runs offline against a throwaway
root (--root) holding the host's unit directory, the units and the built bsupd at
/usr/sbin/bsupd, so ExecStart resolves without installing anything (docs/operations.md)."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsuptest import BSUPD, SRC, check, skip, tmpdir  # noqa: E402

if not shutil.which("systemd-analyze"):
    skip("systemd-analyze is not installed")
units = os.path.join(SRC, "systemd")
service = os.path.join(units, "bsupd.service")

r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", service],
                   capture_output=True, text=True, timeout=120)
m = re.search(r"Overall exposure level for bsupd\.service: ([0-9.]+)", r.stdout)
check(m is not None, "no exposure figure:\n%s\n%s" % (r.stdout[-2000:], r.stderr))
exposure = float(m.group(1))
print("exposure %.1f" % exposure)
check(exposure <= 2.0, "exposure %.1f > 2.0:\n%s" % (exposure, r.stdout))
for needed in ("AF_UNIX AF_INET AF_INET6", "Type=notify", "WatchdogSec=", "User=bsup"):
    check(needed in open(service).read(), "bsupd.service lacks %s" % needed)

root = tmpdir()
os.makedirs(os.path.join(root, "usr/sbin"))
os.makedirs(os.path.join(root, "usr/lib/systemd"))
os.makedirs(os.path.join(root, "etc/systemd/system"))
os.makedirs(os.path.join(root, "bin"))
for hostdir in ("/usr/lib/systemd/system", "/lib/systemd/system"):
    if os.path.isdir(hostdir):
        shutil.copytree(hostdir, os.path.join(root, "usr/lib/systemd/system"), symlinks=True,
                        dirs_exist_ok=True)
        break
shutil.copy(BSUPD, os.path.join(root, "usr/sbin/bsupd"))
shutil.copy(shutil.which("kill") or "/bin/kill", os.path.join(root, "bin/kill"))
for u in ("bsupd.service", "bsupd.socket"):
    shutil.copy(os.path.join(units, u), os.path.join(root, "etc/systemd/system", u))
r = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=" + root,
                    "bsupd.service", "bsupd.socket"], capture_output=True, text=True,
                   timeout=120)
out = (r.stdout + r.stderr).strip()
check(r.returncode == 0 and out == "", "systemd-analyze verify (rc %d):\n%s" % (r.returncode,
                                                                                 out))

# sysusers creates the users in the throwaway root; tmpfiles then makes its directories there.
if shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"):
    r = subprocess.run(["systemd-sysusers", "--root=" + root,
                        os.path.abspath(os.path.join(units, "bsup.sysusers"))],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "systemd-sysusers: %s" % r.stderr)
    passwd = open(os.path.join(root, "etc/passwd")).read()
    group = open(os.path.join(root, "etc/group")).read()
    check("\nbsup:" in "\n" + passwd and "\nbsup-admin:" in "\n" + group,
          "sysusers made no bsup user / bsup-admin group")
    r = subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create",
                        os.path.abspath(os.path.join(units, "bsup.tmpfiles"))],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and os.path.isdir(os.path.join(root, "var/lib/bsup")),
          "systemd-tmpfiles: %s" % r.stderr)
print("ok")
