"""The Python peer of the cross-process tests (tests/xlang_peer.c is the C
one, bindings/node/test/peer.js the Node.js one; same arguments):

    python3 peer.py SOCKET ARENA OFF EXPECT SLOT VALUE [free|wake]

checks the block's first three float32 against EXPECT ("a,b,c", "*" for
any), writes VALUE to float SLOT (-1: none), then frees the block, or wakes
the waiters on the slot's word.
OFF "new" allocates a kept, zeroed 12-byte block first and prints its
offset. Exit: 0 done, 2 error, 3 a slot differs.
"""
import struct
import sys

import ofa


def main(argv):
    sock, arena, off, expect, slot, value = argv[:6]
    last = argv[6] if len(argv) > 6 else None
    try:
        with ofa.connect(sock) as c:
            a = c.open_arena(arena)
            if off == "new":
                off = a.alloc(12, keep=True, zero=True)
                print(off)
            else:
                off = int(off)
            buf = a.buffer(off, 12)
            vals = struct.unpack("<3f", buf)
            for i, want in enumerate(expect.split(",")):
                if want != "*" and vals[i] != struct.unpack("<f", struct.pack("<f", float(want)))[0]:
                    print("peer.py: slot %d holds %r, not %s" % (i, vals[i], want), file=sys.stderr)
                    return 3
            if int(slot) >= 0:
                struct.pack_into("<f", buf, 4 * int(slot), float(value))
            if last == "free":
                a.free(off)
            if last == "wake":
                a.wake(off + 4 * int(slot))
    except ofa.Error as e:
        print("peer.py:", e.code, e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
