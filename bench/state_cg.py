"""Load for counting ofad's instructions per request under callgrind
(bench/README.md, "Keeping the state across restarts"):

    python3 bench/state_cg.py sync|batch N [SOCKET]

sync: N times ofa_alloc + ofa_free of 64 bytes; batch: N times
alloc_many + free_many of 256 blocks; on arena "b" of the ofad at SOCKET
(default $OFAD_SOCKET). Needs the Python package (bindings/python) and
OFA_LIBRARY pointing at libofaclient when it is not installed.
"""
import os
import sys

import ofa


def main():
    kind, n = sys.argv[1], int(sys.argv[2])
    path = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("OFAD_SOCKET")
    c = ofa.connect(path, timeout_ms=60000)
    a = c.open_arena("b")
    for _ in range(n):
        if kind == "batch":
            a.free_many(a.alloc_many(64, 256))
        else:
            a.free(a.alloc(64))


if __name__ == "__main__":
    main()
