'use strict';
// The Node.js peer of the cross-process tests (see tests/xlang_peer.c for
// the C one, which takes the same arguments):
//   node peer.js SOCKET ARENA OFF EXPECT SLOT VALUE [free|wake]
// checks the block's first three floats against EXPECT ("a,b,c", "*" for
// any), writes VALUE to float SLOT (-1: none), then frees the block, or
// wakes the waiters on the slot's word.
// Exit: 0 done, 2 error, 3 a slot differs.
const ofa = require('..');

const [socket, arena, off, expect, slot, value, last] = process.argv.slice(2);
try {
  const c = ofa.connect(socket);
  const a = c.openArena(arena);
  const f = a.float32(BigInt(off), 3);
  const want = expect.split(',');
  for (let i = 0; i < 3; i++) {
    if (want[i] !== '*' && f[i] !== Math.fround(Number(want[i]))) {
      console.error(`peer.js: slot ${i} holds ${f[i]}, not ${want[i]}`);
      process.exit(3);
    }
  }
  if (Number(slot) >= 0) f[Number(slot)] = Number(value);
  if (last === 'free') a.free(BigInt(off));
  if (last === 'wake') a.wake(BigInt(off) + 4n * BigInt(slot));
  c.close();
} catch (e) {
  console.error('peer.js:', e.code, e.message);
  process.exit(2);
}
