#!/usr/bin/env python3
"""The include graph of uwrelay's modules, and a check that it has no circle.

A module is a .c file in src/ and the header of the same name in include/
(a role's files, cluster_ingest.c and cluster_edge.c, and a private header
such as src/cluster_int.h belong to the module whose name they start with).
Module A depends on B when any file of A includes B's header. A circle
(A needs B, B needs A, possibly through others) means neither can be read,
tested or changed without the other: lower layers must call up through a
callback or a small interface they own (upstream_hooks, upconn_ops,
relay_hooks, conn_routes). No circle is allowed at all.

    scripts/includes.py [ROOT]          print the graph (module: what it includes) and its circles
    scripts/includes.py --check [ROOT]  the same, exit 1 if there is any circle"""
import os
import re
import sys

# files that belong to another module than their own name says
PARTS = {"cluster_int": "cluster", "cluster_ingest": "cluster", "cluster_edge": "cluster",
         "config_int": "config", "config_value": "config", "config_yaml": "config",
         "reload": "relay", "notices": "session",
         # a session's resume from the tape: it works on the session's own
         # held queue and tape slots, which exist only for it
         "tape_resume": "session"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    base = os.path.basename(path).rsplit(".", 1)[0]
    return PARTS.get(base, base)


def graph(root):
    deps = {}
    for d, exts in (("src", (".c", ".h")), ("include", (".h",))):
        for name in sorted(os.listdir(os.path.join(root, d))):
            if not name.endswith(exts):
                continue
            m = module_of(name)
            with open(os.path.join(root, d, name), encoding="utf-8") as f:
                text = f.read()
            deps.setdefault(m, set())
            for inc in INCLUDE.findall(text):
                n = module_of(inc)
                if n != m:
                    deps[m].add(n)
    return deps


def circles(deps):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    deps = graph(root)
    if not deps:
        print(f"includes: no sources under {root}", file=sys.stderr)
        return 1
    for m in sorted(deps):
        print(f"{m}: {' '.join(sorted(deps[m])) or '-'}")
    found = circles(deps)
    for c in found:
        print(f"circle: {' '.join(sorted(c))}")
    if not check:
        return 0
    for m in sorted(set().union(*found) if found else ()):
        print(f"includes: FAIL: {m} is in an include circle (see above); call up through a "
              f"callback or an interface it owns instead", file=sys.stderr)
    if found:
        return 1
    print(f"includes: OK ({len(deps)} modules, no circle)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
