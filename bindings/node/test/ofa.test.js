'use strict';
// The Node.js package against a real ofad: the API, its errors, views that
// outlive their block and their connection, the async allocation.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const v8 = require('v8');
const vm = require('vm');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const ofa = require('..');
const { startDaemon } = require('./helpers');

let d;
test.before(async () => {
  d = await startDaemon(['t,page_size=64K,max=1M', 'other,page_size=64K,max=1M,mode=0644']);
});
test.after(async () => {
  assert.strictEqual(await d.stop(), 0);
});

function code(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.strictEqual(typeof e.errno, 'number');
    return e.code;
  }
  assert.fail('no error thrown');
}

test('alloc, views, stats, free', () => {
  const c = ofa.connect(d.socket);
  assert.match(c.serverVersion, /^ofad /);
  assert.ok(c.serverVersion.endsWith(' ' + ofa.libraryVersion()));
  const a = c.openArena('t');
  assert.strictEqual(a.writable, true);
  const off = a.alloc(4096, { zero: true });
  assert.strictEqual(typeof off, 'bigint');
  const f = a.float32(off, 1024);
  assert.ok(f instanceof Float32Array);
  assert.strictEqual(f.length, 1024);
  assert.ok(f.every((x) => x === 0));
  f[0] = 1.5;
  f[1023] = -2;
  // Another view of the same bytes sees the writes: no copy.
  const b = a.bytes(off, 4096);
  assert.deepStrictEqual([...b.subarray(0, 4)], [...new Uint8Array(new Float32Array([1.5]).buffer)]);
  const u32 = a.view(off + 4092n, Uint32Array, 1);
  u32[0] = 0;
  assert.strictEqual(f[1023], 0);
  const f64 = a.view(off, Float64Array, 512);
  assert.strictEqual(f64.length, 512);

  const s = a.stats();
  assert.strictEqual(s.blocksLive, 1);
  assert.strictEqual(s.bytesLive, 4096);
  assert.strictEqual(s.pageSize, 65536);
  for (const k of ['maxBytes', 'pages', 'bytesReserved', 'freeChunks', 'largestFree', 'allocs',
    'frees', 'allocFailures', 'align']) {
    assert.strictEqual(typeof s[k], 'number', k);
  }
  const aligned = a.alloc(100, { align: 4096, keep: true });
  assert.strictEqual(aligned % 4096n, 0n);
  a.free(aligned);
  a.free(off);
  assert.strictEqual(a.stats().blocksLive, 0);
  a.close();
  c.close();
});

test('arenas: create, list, drop', () => {
  const c = ofa.connect(d.socket);
  c.createArena('made', { pageSize: 65536, maxBytes: 1 << 20, align: 128, mode: 0o640 });
  const rec = c.arenas().find((r) => r.name === 'made');
  assert.ok(rec);
  assert.strictEqual(rec.mode & 0o777, 0o640);
  assert.strictEqual(rec.align, 128);
  assert.strictEqual(rec.readable, true);
  assert.deepStrictEqual(c.arenas().map((r) => r.name), ['made', 'other', 't']);
  assert.strictEqual(c.arenaInfo('made').pageSize, 65536);
  const a = c.openArena('made');
  a.alloc(10);
  assert.strictEqual(code(() => c.dropArena('made')), 'EBUSY');
  c.dropArena('made', { force: true });
  assert.strictEqual(code(() => a.alloc(10)), 'ENOENT');
  assert.strictEqual(c.daemonStats().arenas, 2);
  c.close();
});

test('blocks: an arena block by block', () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const live = a.alloc(100);
  const kept = a.alloc(200, { keep: true });
  const list = c.blocks('t');
  const page = list.find((b) => b.kind === 'page');
  assert.ok(page && page.off <= live && page.size === 65536);
  const at = (off) => list.find((b) => b.off === off);
  assert.strictEqual(at(live).kind, 'live');
  assert.strictEqual(at(live).pid, process.pid);
  assert.strictEqual(at(live).size >= 100, true);
  assert.strictEqual(at(kept).kind, 'kept');
  assert.ok(c.blocks('t', { free: true }).some((b) => b.kind === 'free'));
  assert.strictEqual(code(() => c.blocks('missing')), 'ENOENT');
  a.free(live);
  a.free(kept);
  c.close();
});

test('every error has its code', async () => {
  assert.strictEqual(code(() => ofa.connect(d.dir + '/nothing.sock')), 'ENOENT');
  const c = ofa.connect(d.socket);
  assert.strictEqual(code(() => c.openArena('missing')), 'ENOENT');
  assert.strictEqual(code(() => c.openArena('bad name!')), 'EINVAL');
  assert.strictEqual(code(() => c.createArena('t')), 'EEXIST');
  assert.strictEqual(code(() => c.createArena('x', { pageSize: 3 })), 'EINVAL');
  const a = c.openArena('t');
  assert.strictEqual(code(() => a.alloc(0)), 'EINVAL');
  assert.strictEqual(code(() => a.alloc(2 << 20)), 'ENOMEM');
  assert.strictEqual(code(() => a.alloc(-1)), 'EINVAL');
  assert.strictEqual(code(() => a.alloc(64, { align: 3 })), 'EINVAL');
  assert.strictEqual(code(() => a.free(12345n)), 'EINVAL');
  assert.strictEqual(code(() => a.float32(1n << 60n, 1)), 'ENOENT');
  const off = a.alloc(64);
  assert.strictEqual(code(() => a.float32(off + 1n, 1)), 'EINVAL'); // misaligned
  assert.strictEqual(code(() => a.bytes(off, 65537)), 'EINVAL'); // past the page
  assert.throws(() => a.view(off, Array, 1), TypeError);
  await assert.rejects(a.allocAsync(2 << 20), (e) => e.code === 'ENOMEM');
  a.close();
  assert.strictEqual(code(() => a.alloc(8)), 'EBADF');
  c.close();
  assert.strictEqual(code(() => c.openArena('t')), 'ENOTCONN');
  assert.strictEqual(code(() => c.ping()), 'ENOTCONN');
});

function mappings() {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length;
}

test('views outlive free and close', () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  // A block with a page of its own: freeing it releases the page.
  const big = a.alloc(200000);
  const small = a.alloc(64);
  const fb = a.float32(big, 50000);
  const fs_ = a.float32(small, 16);
  fb.fill(7);
  fs_.fill(3);
  a.free(big);
  a.trim(); // the page is gone from the daemon and from the table
  // small lives in the same page, which the daemon still holds.
  assert.strictEqual(fb[49999], 7);
  fb[0] = 1; // writes go to memory no other process sees; no fault
  a.free(small);
  a.close();
  c.close();
  // Released with small's free and punched by the daemon: zeroes, no fault.
  assert.strictEqual(fs_[15], 0);
  assert.strictEqual(fb[49999], 0);
  fs_[0] = 9;
  assert.strictEqual(fs_[0], 9);
  assert.ok(mappings() > 0);
});

test('dropping views releases the pins (no crash under GC)', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  for (let i = 0; i < 200; i++) {
    const off = a.alloc(100000); // a page each
    a.bytes(off, 100000)[99999] = i;
    a.free(off);
  }
  c.close();
  gc();
});

test('allocAsync resolves on the thread pool; sync calls wait for it', async () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const offs = await Promise.all([...Array(32)].map(() => a.allocAsync(256, { zero: true })));
  assert.strictEqual(new Set(offs.map(String)).size, 32);
  const sync = a.alloc(256); // interleaved with nothing in flight
  assert.strictEqual(a.stats().blocksLive, 33);
  const p = a.allocAsync(512);
  a.free(sync); // may run before or after the async one: both succeed
  const last = await p;
  assert.strictEqual(typeof last, 'bigint');
  assert.strictEqual(a.freeMany([...offs, last]), 33);
  // Closing with a request queued: it fails with EBADF, never crashes.
  const q = a.allocAsync(64);
  c.close();
  await q.then((off) => assert.strictEqual(typeof off, 'bigint'), (e) => assert.strictEqual(e.code, 'EBADF'));
});

test('allocMany and freeMany', () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const offs = a.allocMany(128, 100, { keep: true });
  assert.ok(offs instanceof BigUint64Array);
  assert.strictEqual(offs.length, 100);
  assert.strictEqual(new Set(offs).size, 100);
  assert.strictEqual(a.stats().blocksLive, 100);
  assert.strictEqual(code(() => a.allocMany(128, 0)), 'EINVAL');
  // Stops at the first offset that is not a live block.
  const bad = BigUint64Array.from([offs[0], 3n, offs[1]]);
  assert.strictEqual(a.freeMany(bad), 1);
  assert.strictEqual(a.freeMany(offs.subarray(1)), 99);
  assert.strictEqual(a.stats().blocksLive, 0);
  c.close();
});

test('wait and wake: results and errors', async () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  const off = a.alloc(64, { zero: true });
  assert.strictEqual(a.wait(off, 0, 0), 'timed-out');
  assert.strictEqual(a.wait(off, 7, 0), 'not-equal');
  assert.strictEqual(a.wait(off, 0, 1), 'timed-out');
  assert.strictEqual(await a.waitAsync(off, 0, 1), 'timed-out');
  assert.strictEqual(a.wake(off), 0);
  // A waiter on the pool does not hold the connection: sync calls go on.
  const w = a.waitAsync(off + 8n, 0, 60000);
  const other = a.alloc(8);
  a.free(other);
  a.view(off + 8n, Uint32Array, 1)[0] = 1;
  let n = 0;
  // The waiter may not be asleep yet: it then sees the word changed.
  n += a.wake(off + 8n);
  assert.ok(n <= 1);
  assert.ok(['ok', 'not-equal'].includes(await w));
  assert.strictEqual(code(() => a.wait(off + 2n, 0, 0)), 'EINVAL');
  assert.strictEqual(code(() => a.wake(off + 1n)), 'EINVAL');
  assert.strictEqual(code(() => a.wait(1n << 60n, 0, 0)), 'ENOENT');
  await assert.rejects(async () => a.waitAsync(off + 2n, 0, 0), (e) => e.code === 'EINVAL');
  a.free(off);
  c.close();
});

test('deadlines: a stopped daemon gives ETIMEDOUT', () => {
  const c = ofa.connect(d.socket, { timeoutMs: 5000 });
  c.ping();
  assert.strictEqual(code(() => c.setTimeout(-1)), 'EINVAL');
  c.setTimeout(300);
  process.kill(d.proc.pid, 'SIGSTOP');
  try {
    assert.strictEqual(code(() => c.ping()), 'ETIMEDOUT');
  } finally {
    process.kill(d.proc.pid, 'SIGCONT');
  }
  // The connection was dropped; the next call connects again and resumes.
  c.ping();
  c.close();
});

// Run as nobody: the arena 'other' (mode 0644) opens read-only, and views of
// a read-only handle are copies (a write through the read-only mapping
// would kill the process); writes are refused with EACCES.
const READ_ONLY_CHILD = `
const ofa = require(process.argv[1]);
const c = ofa.connect(process.argv[2]);
const a = c.openArena('other');
if (a.writable) process.exit(10);
const off = BigInt(process.argv[3]);
const v = a.bytes(off, 4);
if (Buffer.from(v).toString() !== 'ro!!') process.exit(11);
v[0] = 0; // the copy, not the shared bytes
for (const f of [() => a.alloc(8), () => a.free(off)]) {
  try { f(); process.exit(12); } catch (e) { if (e.code !== 'EACCES') process.exit(13); }
}
try { c.openArena('t'); process.exit(14); } catch (e) { if (e.code !== 'EACCES') process.exit(15); }
c.close();
`;

test('a read-only handle: copies for views, EACCES for writes', { skip: process.getuid() !== 0 && 'needs root to run a child as nobody' }, () => {
  const id = (flag) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  fs.chmodSync(d.dir, 0o755);
  fs.chmodSync(d.socket, 0o666);
  const c = ofa.connect(d.socket);
  const a = c.openArena('other');
  const off = a.alloc(4);
  a.bytes(off, 4).set(Buffer.from('ro!!'));
  const r = spawnSync(process.execPath, ['-e', READ_ONLY_CHILD, path.resolve(__dirname, '..'), d.socket, String(off)],
    { uid, gid, encoding: 'utf8', cwd: os.tmpdir() });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(Buffer.from(a.bytes(off, 4)).toString(), 'ro!!');
  c.close();
});

test('named blocks: allocNamed, lookup, lookupWait, bind, unbind', async () => {
  const c = ofa.connect(d.socket);
  const a = c.openArena('t');
  // The wait travels on a connection of its own: this one goes on meanwhile.
  const waiting = a.lookupWait('frame/1', 60000);
  const { off, created } = a.allocNamed('frame/1', 100);
  assert.strictEqual(created, true);
  assert.deepStrictEqual(a.allocNamed('frame/1', 50), { off, created: false });
  assert.strictEqual(code(() => a.allocNamed('frame/1', 50, { excl: true })), 'EEXIST');
  const got = await waiting;
  assert.strictEqual(got.off, off);
  assert.ok(got.size >= 100);
  assert.deepStrictEqual(a.lookup('frame/1'), got);
  assert.strictEqual(a.blockSize(off), got.size);
  a.bindName('alias', off);
  assert.deepStrictEqual(c.names('t').map((n) => [n.name, n.off]), [['alias', off], ['frame/1', off]]);
  a.unbindName('alias');
  assert.strictEqual(code(() => a.lookup('alias')), 'ENOENT');
  assert.strictEqual(code(() => a.unbindName('alias')), 'ENOENT');
  assert.strictEqual(code(() => a.allocNamed('bad name!', 8)), 'EINVAL');
  assert.strictEqual(code(() => a.blockSize(off + 8n)), 'EINVAL');
  await assert.rejects(a.lookupWait('never', 50), (e) => e.code === 'ETIMEDOUT');
  a.free(off); // freeing the block unbinds its names
  assert.strictEqual(code(() => a.lookup('frame/1')), 'ENOENT');
  c.close();
});

test('private blocks: only their connection frees them; an arena private by default', () => {
  const c1 = ofa.connect(d.socket);
  const c2 = ofa.connect(d.socket);
  const a1 = c1.openArena('t');
  const a2 = c2.openArena('t');
  const off = a1.alloc(64, { private: true });
  a1.bytes(off, 64).fill(7);
  assert.strictEqual(a2.bytes(off, 64)[63], 7); // everyone may read it
  assert.strictEqual(code(() => a2.free(off)), 'EACCES');
  assert.strictEqual(code(() => a1.alloc(64, { private: true, keep: true })), 'EINVAL');
  a1.free(off);
  assert.strictEqual(code(() => a1.free(off)), 'EINVAL');

  c1.createArena('priv', { pageSize: 65536, maxBytes: 1 << 20, private: true, cacheMax: 8192 });
  const p1 = c1.openArena('priv');
  const p2 = c2.openArena('priv');
  const st = p1.stats();
  assert.strictEqual(st.private, true);
  assert.strictEqual(st.cacheMax, 8192);
  const mine = p1.alloc(32); // private: the arena's default
  const ours = p1.alloc(32, { shared: true });
  assert.strictEqual(code(() => p2.free(mine)), 'EACCES');
  p2.free(ours);
  p1.free(mine);
  p1.close();
  p2.close();
  c1.dropArena('priv', { force: true });
  c1.close();
  c2.close();
});
