'use strict';
// The Node.js side of bindings_bench.sh: the loops of bindings_bench.c
// through the ofa package (a.bytes() is the pinned view).
//   node bindings_bench.js PACKAGE SOCKET ARENA N
const [pkg, socket, arena, nArg] = process.argv.slice(2);
const ofa = require(pkg);
const n = Number(nArg);
const c = ofa.connect(socket);
const a = c.openArena(arena);
let t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const off = a.alloc(64);
  a.bytes(off, 64)[0] = i;
  a.free(off);
}
const rt = Number(process.hrtime.bigint() - t0) / n;
const off = a.alloc(64);
t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) a.bytes(off, 64)[0] = i;
const view = Number(process.hrtime.bigint() - t0) / n;
console.log(`lang=node roundtrip_ns=${rt.toFixed(0)} view_ns=${view.toFixed(0)}`);
c.close();
