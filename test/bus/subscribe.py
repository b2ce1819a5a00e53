#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Subscribe to ccdevd's signals and print what arrives.

usage: subscribe.py UID GID GROUPS

Run as root.  Connects to $DBUS_SYSTEM_BUS_ADDRESS with effective uid UID,
gid GID and supplementary groups GROUPS (comma-separated gids, "-" for
none), calls org.ccdevd1.Manager.Subscribe and prints "subscribed" or
"error NAME: MESSAGE".  Then prints one line per signal it receives,
"signal INTERFACE.MEMBER PATH" and, for a body whose first argument is a
string, " ARG", until it is killed.  It adds no match rule: what arrives was
sent to this connection (unicast), not broadcast.
"""

import importlib.util
import os
import struct
import sys

_spec = importlib.util.spec_from_file_location(
    "raw_call", os.path.join(os.path.dirname(os.path.abspath(__file__)), "raw-call.py"))
raw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(raw)


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
        sock = raw.connect(address, unix_fds=False)
        if sock is None:
            return 2
        result = raw.call(sock, 2, "org.ccdevd1", "/org/ccdevd1", "org.ccdevd1.Manager", "Subscribe")
        print("subscribed" if result == "return" else result, flush=True)
        if result != "return":
            return 1
        while True:
            mtype, fields, body, _ = raw.read_message(sock)
            if mtype != 4:  # SIGNAL
                continue
            line = f"signal {fields.get(2)}.{fields.get(3)} {fields.get(1)}"
            if fields.get(8, "").startswith("s") and len(body) >= 4:
                (n,) = struct.unpack_from("<I", body, 0)
                line += " " + body[4:4 + n].decode(errors="replace")
            print(line, flush=True)
    except (OSError, EOFError) as e:
        print(f"cannot reach the bus: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
