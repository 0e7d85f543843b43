"""The Python side of bindings_bench.sh: the loops of bindings_bench.c
through the ofa package (a.buffer() is the pinned view).

    python3 bindings_bench.py SOCKET ARENA N   (ofa on PYTHONPATH)
"""
import sys
import time

import ofa

sock, arena, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with ofa.connect(sock) as c:
    a = c.open_arena(arena)
    t0 = time.perf_counter_ns()
    for i in range(n):
        off = a.alloc(64)
        a.buffer(off, 64)[0] = i & 255
        a.free(off)
    rt = (time.perf_counter_ns() - t0) / n
    off = a.alloc(64)
    t0 = time.perf_counter_ns()
    for i in range(n):
        a.buffer(off, 64)[0] = i & 255
    view = (time.perf_counter_ns() - t0) / n
    print("lang=python roundtrip_ns=%.0f view_ns=%.0f" % (rt, view))
