#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One D-Bus method call (no arguments) from a process whose groups change
between connecting to the bus and making the call.

usage: raw-call.py CONNECT-UID CONNECT-GID CONNECT-GROUPS
                   CALL-UID CALL-GID CALL-GROUPS DEST PATH INTERFACE MEMBER

Run as root.  The process connects to $DBUS_SYSTEM_BUS_ADDRESS (unix:path=)
with effective uid CONNECT-UID, effective gid CONNECT-GID and the
supplementary groups CONNECT-GROUPS (comma-separated gids, "-" for none);
once the bus has said Hello it switches to CALL-UID, CALL-GID and CALL-GROUPS
and calls DEST PATH INTERFACE.MEMBER.  (Real and saved ids stay 0.)  Prints "return" or "error NAME: MESSAGE"; exit
status 0 either way, 2 when the bus cannot be reached.

The kernel records a socket's credentials (SO_PEERCRED, SO_PEERGROUPS) at
connect(), and the bus reports those (GetConnectionCredentials UnixUserID,
UnixGroupIDs); what a process has later is only in /proc/PID/status.  This
tells which of the two a service authorizes with.  No D-Bus library needed:
python3 here has none.
"""

import os
import socket
import struct
import sys


def align(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))


def put_string(buf, code, value):
    data = value.encode()
    if code == "g":
        buf.append(len(data))
    else:
        align(buf, 4)
        buf.extend(struct.pack("<I", len(data)))
    buf.extend(data + b"\0")


def method_call(serial, dest, path, interface, member):
    fields = [(1, "o", path), (2, "s", interface), (3, "s", member), (6, "s", dest)]
    msg = bytearray(b"l\x01\x00\x01") + struct.pack("<II", 0, serial) + b"\0\0\0\0"
    start = len(msg)
    for code, sig, value in fields:
        align(msg, 8)
        msg.extend(bytes([code, 1]) + sig.encode() + b"\0")
        put_string(msg, sig, value)
    struct.pack_into("<I", msg, 12, len(msg) - start)
    align(msg, 8)
    return bytes(msg)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the bus closed the connection")
        data += chunk
    return data


def read_message(sock):
    """(type, fields {code: value}, body bytes, body offset in the message)."""
    fixed = recv_exact(sock, 16)
    if fixed[0:1] != b"l":
        raise ValueError("only little-endian messages are handled")
    body_len, _serial, fields_len = struct.unpack_from("<III", fixed, 4)
    header_len = 16 + fields_len + (-(16 + fields_len) % 8)
    msg = fixed + recv_exact(sock, header_len - 16 + body_len)
    fields, pos = {}, 16
    while pos < 16 + fields_len:
        pos += -pos % 8
        code, sig_len = msg[pos], msg[pos + 1]
        sig = msg[pos + 2:pos + 2 + sig_len].decode()
        pos += 3 + sig_len
        if sig in ("s", "o"):
            pos += -pos % 4
            (n,) = struct.unpack_from("<I", msg, pos)
            fields[code] = msg[pos + 4:pos + 4 + n].decode()
            pos += 5 + n
        elif sig == "g":
            n = msg[pos]
            fields[code] = msg[pos + 1:pos + 1 + n].decode()
            pos += 2 + n
        elif sig == "u":
            pos += -pos % 4
            (fields[code],) = struct.unpack_from("<I", msg, pos)
            pos += 4
        else:
            raise ValueError(f"unexpected header field signature {sig!r}")
    return fixed[1], fields, msg[header_len:], header_len


def error_text(fields, body):
    """An error reply as "error NAME: MESSAGE"."""
    message = ""
    if fields.get(8, "").startswith("s"):
        (n,) = struct.unpack_from("<I", body, 0)
        message = body[4:4 + n].decode()
    return f"error {fields.get(4)}: {message}"


def call(sock, serial, *args):
    sock.sendall(method_call(serial, *args))
    while True:
        mtype, fields, body, _ = read_message(sock)
        if fields.get(5) != serial:  # REPLY_SERIAL; skip signals such as NameAcquired
            continue
        if mtype == 2:
            return "return"
        return error_text(fields, body)


def gids(spec):
    return [] if spec == "-" else [int(g) for g in spec.split(",")]


def become(uid, gid, groups):
    """Effective uid/gid and groups; real and saved uid stay 0 to allow changes."""
    os.seteuid(0)
    os.setgroups(groups)
    os.setresgid(0, gid, 0)
    os.setresuid(0, uid, 0)


def connect(address, unix_fds):
    """Authenticate as our euid (and ask for fd passing if unix_fds), say
    Hello; the socket, or None after printing why not."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address[len("unix:path="):].split(",")[0])
    sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
    reply = sock.recv(4096)
    if not reply.startswith(b"OK "):
        print(f"authentication refused: {reply!r}", file=sys.stderr)
        return None
    if unix_fds:
        sock.sendall(b"NEGOTIATE_UNIX_FD\r\n")
        reply = sock.recv(4096)
        if not reply.startswith(b"AGREE_UNIX_FD"):
            print(f"fd passing refused: {reply!r}", file=sys.stderr)
            return None
    sock.sendall(b"BEGIN\r\n")
    hello = call(sock, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
    if hello != "return":
        print(f"Hello failed: {hello}", file=sys.stderr)
        return None
    return sock


def main():
    if len(sys.argv) != 11:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    cuid, cgid, cgroups, kuid, kgid, kgroups = sys.argv[1:7]
    dest, path, interface, member = sys.argv[7:11]
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    if not address.startswith("unix:path="):
        print(f"cannot use DBUS_SYSTEM_BUS_ADDRESS={address!r}", file=sys.stderr)
        return 2

    become(int(cuid), int(cgid), gids(cgroups))
    try:
        sock = connect(address, unix_fds=False)
        if sock is None:
            return 2
    except (OSError, EOFError) as e:
        print(f"cannot reach the bus: {e}", file=sys.stderr)
        return 2

    become(int(kuid), int(kgid), gids(kgroups))
    print(call(sock, 2, dest, path, interface, member))
    return 0


if __name__ == "__main__":
    sys.exit(main())
