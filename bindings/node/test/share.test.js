'use strict';
// Processes sharing blocks through offsets: two Node.js processes over one
// Float32Array; a Node.js process, a Python process and a C program over
// one block; kept blocks handed from one language to another.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const ofa = require('..');
const { startDaemon, nodePeer, pythonPeer, cPeer, pythonAvailable, XLANG_PEER } = require('./helpers');

let d;
test.before(async () => {
  d = await startDaemon();
});
test.after(async () => {
  assert.strictEqual(await d.stop(), 0);
});

function ok(r) {
  assert.strictEqual(r.status, 0, r.stderr);
}

test('two Node.js processes share a Float32Array', () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const off = a.alloc(12);
  const f = a.float32(off, 3);
  f.set([0.25, 0, 0]);
  ok(nodePeer([d.socket, 't', String(off), '0.25,0,0', '1', '4.5']));
  assert.strictEqual(f[1], 4.5);
  // A peer that finds the wrong value says so.
  assert.strictEqual(nodePeer([d.socket, 't', String(off), '9,*,*', '-1', '0']).status, 3);
  a.free(off);
  c.close();
});

const noPython = !pythonAvailable() && 'the Python package or /usr/bin/python3 is not available';
const noC = !fs.existsSync(XLANG_PEER) && 'xlang_peer is not built';

test('Node.js, Python and C write and read one block', { skip: noPython || noC }, () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const off = a.alloc(12, { zero: true });
  const f = a.float32(off, 3);
  f[0] = 1.5;
  ok(pythonPeer([d.socket, 't', String(off), '1.5,0,0', '1', '2.5']));
  ok(cPeer([d.socket, 't', String(off), '1.5,2.5,0', '2', '3.5']));
  assert.deepStrictEqual([...f], [1.5, 2.5, 3.5]);
  ok(pythonPeer([d.socket, 't', String(off), '1.5,2.5,3.5', '-1', '0']));
  a.free(off);
  c.close();
});

test('kept blocks change hands between languages', { skip: noPython || noC }, () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  // Node.js keeps a block and goes away; Python frees it.
  const c2 = ofa.connect(d.socket);
  const a2 = c2.openArena('t');
  const off = a2.alloc(12, { keep: true, zero: true });
  a2.float32(off, 3)[0] = 8;
  c2.close();
  assert.strictEqual(a.stats().blocksLive, 1);
  ok(pythonPeer([d.socket, 't', String(off), '8,0,0', '-1', '0', 'free']));
  assert.strictEqual(a.stats().blocksLive, 0);
  // A Python process keeps one, C reads it and writes, Node.js frees it.
  const r = pythonPeer([d.socket, 't', 'new', '*,*,*', '0', '6']);
  ok(r);
  const kept = BigInt(r.stdout.trim());
  ok(cPeer([d.socket, 't', String(kept), '6,*,*', '1', '7']));
  assert.deepStrictEqual([...a.float32(kept, 2)], [6, 7]);
  a.free(kept);
  assert.strictEqual(a.stats().blocksLive, 0);
  c.close();
});

test('wake-ups: Node.js waits, Python and C wake it', { skip: noPython || noC }, async () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const off = a.alloc(12, { zero: true });
  // The word of float slot 0 holds 0 until a peer writes 1.0 and wakes.
  const woken = a.waitAsync(off, 0, 60000);
  ok(pythonPeer([d.socket, 't', String(off), '0,0,0', '0', '1', 'wake']));
  assert.ok(['ok', 'not-equal'].includes(await woken));
  assert.strictEqual(a.float32(off, 1)[0], 1);
  const again = a.waitAsync(off + 4n, 0, 60000);
  c.ping(); // the connection is free while the pool waits
  ok(cPeer([d.socket, 't', String(off), '1,0,0', '1', '2', 'wake']));
  assert.ok(['ok', 'not-equal'].includes(await again));
  assert.strictEqual(a.float32(off, 2)[1], 2);
  a.free(off);
  c.close();
});
