#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Connect, fork, let the connecting process exit, then CreateLease from the child.

usage: fork-lease.py UID GID

Run as root.  Connects to $DBUS_SYSTEM_BUS_ADDRESS with effective uid UID
and gid GID (no supplementary groups); the bus records this process's PID.
Then it forks: the parent prints "connected PID" (its own PID, the one the
bus recorded) and exits; the child waits for a line on stdin, calls
org.ccdevd1.Manager.CreateLease({}) on the inherited connection and prints
"lease PATH" or "error NAME: MESSAGE", then holds the connection until its
stdin closes.  The case a broker must not get wrong: the PID the bus
recorded may by then belong to another process.
"""

import importlib.util
import os
import struct
import sys

_spec = importlib.util.spec_from_file_location(
    "raw_call", os.path.join(os.path.dirname(os.path.abspath(__file__)), "raw-call.py"))
raw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(raw)
_spec2 = importlib.util.spec_from_file_location(
    "hold_lease", os.path.join(os.path.dirname(os.path.abspath(__file__)), "hold-lease.py"))
hold = importlib.util.module_from_spec(_spec2)
_spec2.loader.exec_module(hold)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    uid, gid = int(sys.argv[1]), int(sys.argv[2])
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    if not address.startswith("unix:path="):
        print(f"cannot use DBUS_SYSTEM_BUS_ADDRESS={address!r}", file=sys.stderr)
        return 2
    raw.become(uid, gid, [])
    sock = raw.connect(address, unix_fds=True)
    if sock is None:
        return 2
    if os.fork() != 0:
        print(f"connected {os.getpid()}", flush=True)
        os._exit(0)
    sys.stdin.readline()
    sock.sendall(hold.create_lease_call(2))
    while True:
        mtype, fields, body, _ = raw.read_message(sock)
        if fields.get(5) == 2:
            break
    if mtype != 2:
        print(raw.error_text(fields, body), flush=True)
    else:
        (n,) = struct.unpack_from("<I", body, 0)
        print(f"lease {body[4:4 + n].decode()}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
