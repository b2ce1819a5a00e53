#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Create a lease and hold it: the owner that dbus-send and busctl cannot be.

usage: hold-lease.py UID GID GROUPS

Run as root.  Connects to $DBUS_SYSTEM_BUS_ADDRESS (unix:path=) with
effective uid UID, gid GID and supplementary groups GROUPS (comma-separated
gids, "-" for none), with Unix fd passing, and calls
org.ccdevd1.Manager.CreateLease({}).  Prints one line, "lease PATH" or
"error NAME: MESSAGE", then keeps the connection (and so the lease) until it
is killed or the bus closes the connection.  The iommufd in the reply is not
kept: the lease follows the process and its bus name, not the fd.  Exit
status 0 once the lease ended, 1 when CreateLease failed, 2 when the bus
cannot be reached.
"""

import importlib.util
import os
import struct
import sys

_spec = importlib.util.spec_from_file_location(
    "raw_call", os.path.join(os.path.dirname(os.path.abspath(__file__)), "raw-call.py"))
raw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(raw)


def create_lease_call(serial):
    """Manager.CreateLease with an empty a{sv}."""
    fields = [(1, "o", "/org/ccdevd1"), (2, "s", "org.ccdevd1.Manager"), (3, "s", "CreateLease"),
              (6, "s", "org.ccdevd1"), (8, "g", "a{sv}")]
    body = struct.pack("<I", 0) + b"\0" * 4  # length 0, padded to the dict entries' 8
    msg = bytearray(b"l\x01\x00\x01") + struct.pack("<II", len(body), serial) + b"\0\0\0\0"
    start = len(msg)
    for code, sig, value in fields:
        raw.align(msg, 8)
        msg.extend(bytes([code, 1]) + sig.encode() + b"\0")
        raw.put_string(msg, sig, value)
    struct.pack_into("<I", msg, 12, len(msg) - start)
    raw.align(msg, 8)
    return bytes(msg) + body


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    uid, gid, groups = sys.argv[1:4]
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    if not address.startswith("unix:path="):
        print(f"cannot use DBUS_SYSTEM_BUS_ADDRESS={address!r}", file=sys.stderr)
        return 2

    raw.become(int(uid), int(gid), raw.gids(groups))
    try:
        sock = raw.connect(address, unix_fds=True)
        if sock is None:
            return 2

        # recv() without ancillary space: the kernel closes the iommufd it carries.
        sock.sendall(create_lease_call(2))
        while True:
            mtype, fields, body, _ = raw.read_message(sock)
            if fields.get(5) == 2:
                break
        if mtype != 2:
            print(raw.error_text(fields, body), flush=True)
            return 1
        (n,) = struct.unpack_from("<I", body, 0)
        print(f"lease {body[4:4 + n].decode()}", flush=True)

        # Hold it: read (and drop) whatever the bus sends until it hangs up.
        while sock.recv(65536):
            pass
    except (OSError, EOFError) as e:
        print(f"cannot reach the bus: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
