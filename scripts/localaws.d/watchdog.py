#!/usr/bin/env python3
"""watchdog.py OWNER_PID PGID: when OWNER_PID is gone, end process group PGID.

Started by `localaws start --owner PID` inside the environment's own process
group, so an environment never outlives a test that was SIGKILLed (e.g. by a
ctest timeout) before its trap could run `localaws stop`.
"""
import os
import signal
import sys
import time

owner, pgid = int(sys.argv[1]), int(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        break
    except PermissionError:
        pass
    time.sleep(0.5)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.killpg(pgid, signal.SIGTERM)
for _ in range(60):  # up to 3 s for the others to exit, then force
    time.sleep(0.05)
    try:
        os.kill(pgid, 0)  # the group leader is moto_server
    except ProcessLookupError:
        break
os.killpg(pgid, signal.SIGKILL)  # whatever is left, this watchdog included
