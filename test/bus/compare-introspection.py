#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compare one interface of a live object's introspection with the contract.

usage: compare-introspection.py CONTRACT.xml LIVE.xml INTERFACE

Both files are D-Bus introspection XML.  The interface must have the same
methods (arguments in order: name, type, direction), the same signals
(arguments in order: name, type) and the same properties (type, access) in
both.  Comments and annotations are ignored.  Exit status: 0 when they match,
1 with a line per difference on stdout when they do not, 2 when a file cannot
be read or lacks the interface.
"""

import sys
import xml.etree.ElementTree as ET


class Unusable(Exception):
    """A file that cannot be compared at all."""


def members(path, interface):
    """{(kind, name): signature} for the methods, signals and properties."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise Unusable(f"{path}: {e}") from e
    found = [i for i in root.findall("interface") if i.get("name") == interface]
    if len(found) != 1:
        raise Unusable(f"{path}: {len(found)} <interface name=\"{interface}\"> elements, expected 1")
    iface = found[0]

    def args(elem, with_direction):
        out = []
        for a in elem.findall("arg"):
            t = (a.get("name", ""), a.get("type", ""))
            if with_direction:
                t += (a.get("direction", "in"),)  # "in" is the default for methods
            out.append(t)
        return tuple(out)

    result = {}
    for m in iface.findall("method"):
        result[("method", m.get("name"))] = args(m, True)
    for s in iface.findall("signal"):
        result[("signal", s.get("name"))] = args(s, False)
    for p in iface.findall("property"):
        result[("property", p.get("name"))] = (p.get("type"), p.get("access"))
    return result


def describe(kind, value):
    if kind == "property":
        return f"type={value[0]} access={value[1]}"
    if not value:
        return "()"
    return "(" + ", ".join(" ".join(a) for a in value) + ")"


def main():
    if len(sys.argv) != 4:
        print("usage: compare-introspection.py CONTRACT.xml LIVE.xml INTERFACE", file=sys.stderr)
        return 2
    contract_path, live_path, interface = sys.argv[1:]
    try:
        contract = members(contract_path, interface)
        live = members(live_path, interface)
    except Unusable as e:
        print(e)
        return 2

    diffs = []
    for key in sorted(set(contract) | set(live)):
        kind, name = key
        if key not in live:
            diffs.append(f"- {kind} {name} {describe(kind, contract[key])}: in the contract, missing from the daemon")
        elif key not in contract:
            diffs.append(f"+ {kind} {name} {describe(kind, live[key])}: offered by the daemon, not in the contract")
        elif contract[key] != live[key]:
            diffs.append(f"- {kind} {name} {describe(kind, contract[key])}: the contract")
            diffs.append(f"+ {kind} {name} {describe(kind, live[key])}: the daemon")
    if diffs:
        print(f"{interface}: {contract_path} (-) and the daemon (+) differ:")
        for d in diffs:
            print(d)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
