'use strict';
// ofa for Node.js: blocks of shared memory handed out by ofad, named by
// offsets (BigInt), seen through zero-copy TypedArrays. The native addon
// (ofa.node, on Node-API) wraps libofaclient; this file gives it the shape
// users see: options objects, classes, TypedArray views.

const path = require('path');

function loadAddon() {
  const tried = [];
  const candidates = [];
  if (process.env.OFA_NODE_ADDON) candidates.push(process.env.OFA_NODE_ADDON);
  // Installed or built by CMake: next to this file. Built by hand: build/.
  candidates.push(path.join(__dirname, 'ofa.node'), path.join(__dirname, 'build', 'ofa.node'));
  for (const file of candidates) {
    try {
      return require(file);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
      tried.push(file);
    }
  }
  const err = new Error(
    'ofa: the native addon ofa.node is not built; build ofa with CMake and use ' +
      'the package from the build tree (build/bindings/node) or its install ' +
      '(tried ' + tried.join(', ') + ')');
  err.code = 'MODULE_NOT_FOUND';
  throw err;
}

const native = loadAddon();
const TypedArray = Object.getPrototypeOf(Int8Array);

function flagsOf(opts) {
  let flags = 0;
  if (opts.keep) flags |= native.KEEP;
  if (opts.zero) flags |= native.ZERO;
  if (opts.private) flags |= native.PRIVATE;
  if (opts.shared) flags |= native.SHARED;
  return flags;
}

function einval(msg) {
  const e = new RangeError(msg);
  e.code = 'EINVAL';
  e.errno = 22;
  return e;
}

class Arena {
  constructor(client, handle, name) {
    this._h = handle;
    this._client = client; // keeps the connection alive as long as the arena
    this.name = name;
    this.writable = native.writable(handle);
  }

  // Allocates a block; resolves to its offset (a BigInt).
  alloc(bytes, opts = {}) {
    return native.alloc(this._h, bytes, opts.align || 0, flagsOf(opts));
  }

  // As alloc, waiting on the libuv thread pool instead of the JS thread.
  allocAsync(bytes, opts = {}) {
    return native.allocAsync(this._h, bytes, opts.align || 0, flagsOf(opts));
  }

  // count blocks of one size in one round trip, all or none: a BigUint64Array.
  allocMany(bytes, count, opts = {}) {
    return native.allocMany(this._h, bytes, count, opts.align || 0, flagsOf(opts));
  }

  free(off) {
    native.free(this._h, off);
  }

  // Frees the offsets in order, stopping at the first that is not a live
  // block; returns how many were freed.
  freeMany(offs) {
    const list = offs instanceof BigUint64Array ? offs : BigUint64Array.from(offs, BigInt);
    return native.freeMany(this._h, list);
  }

  // length elements of Type over the bytes at off, zero copy (a copy on a
  // read-only handle).
  view(off, Type, length) {
    if (typeof Type !== 'function' || Object.getPrototypeOf(Type) !== TypedArray) {
      throw new TypeError('view: Type must be a TypedArray constructor');
    }
    const size = Type.BYTES_PER_ELEMENT;
    if (!Number.isSafeInteger(length) || length < 0) throw einval('view: bad length');
    if (BigInt(off) % BigInt(size) !== 0n) {
      throw einval('view: offset not aligned to ' + size + ' bytes');
    }
    return new Type(native.pin(this._h, off, length * size), 0, length);
  }

  float32(off, length) {
    return this.view(off, Float32Array, length);
  }

  bytes(off, length) {
    return this.view(off, Uint8Array, length);
  }

  stats() {
    return native.stats(this._h);
  }

  // Unmaps pages the daemon no longer holds (pages pinned by views stay
  // mapped until the views are collected); returns how many.
  trim() {
    return native.trim(this._h);
  }

  // Finds the block bound to name, or allocates a kept one of bytes and
  // binds name to it, atomically: { off, created }. excl: a bound name is
  // EEXIST instead.
  allocNamed(name, bytes, opts = {}) {
    const [off, created] = native.allocNamed(this._h, name, bytes, !!opts.excl);
    return { off, created };
  }

  // Binds name to the live kept block at off; unbinds it (the block stays).
  bindName(name, off) {
    native.bindName(this._h, name, off);
  }

  unbindName(name) {
    native.unbindName(this._h, name);
  }

  // The block bound to name: { off, size }; ENOENT if none.
  lookup(name) {
    return native.lookup(this._h, name);
  }

  // Resolves to lookup(name) once name is bound (a bind wakes it; no
  // polling), or rejects with ETIMEDOUT after timeoutMs (default: never).
  // Waits on the thread pool on a connection of its own.
  lookupWait(name, timeoutMs) {
    return native.lookupWait(this._client._h, this.name, name, timeoutMs);
  }

  // The size of the live block at off, as the arena rounded it.
  blockSize(off) {
    return native.blockSize(this._h, off);
  }

  // Sleeps while the 32-bit word at off holds expected, until wake() on it
  // from any process or timeoutMs passes (default: no limit). Blocks the JS
  // thread, as Atomics.wait does. Returns 'ok', 'not-equal' or 'timed-out'.
  wait(off, expected, timeoutMs) {
    return native.wait(this._h, off, expected, timeoutMs);
  }

  // As wait, on the libuv thread pool: resolves to the same words. Each
  // pending waitAsync occupies a pool thread (UV_THREADPOOL_SIZE, 4 by
  // default): give it a timeout, or a larger pool.
  waitAsync(off, expected, timeoutMs) {
    return native.waitAsync(this._h, off, expected, timeoutMs);
  }

  // Wakes up to count (default all) waiters on the word at off; returns how
  // many woke. Change the word first.
  wake(off, count = 0x7fffffff) {
    return native.wake(this._h, off, count);
  }

  close() {
    native.arenaClose(this._h);
  }
}

class Client {
  constructor(socketPath, opts = {}) {
    this._h = native.connect(socketPath);
    if (opts.timeoutMs !== undefined) this.setTimeout(opts.timeoutMs);
  }

  // The deadline of each later call in ms (0: none); a call that misses it
  // fails with ETIMEDOUT (the next one connects again and resumes).
  setTimeout(ms) {
    native.setTimeout(this._h, ms);
  }

  createArena(name, opts = {}) {
    native.createArena(this._h, name, opts.pageSize || 0, opts.maxBytes || 0,
      opts.align || 0, opts.mode || 0, opts.private ? 1 : 0, opts.cacheMax || 0);
  }

  dropArena(name, opts = {}) {
    native.dropArena(this._h, name, !!opts.force);
  }

  arenas() {
    return native.arenas(this._h);
  }

  arenaInfo(name) {
    return native.arenaInfo(this._h, name);
  }

  openArena(name) {
    return new Arena(this, native.openArena(this._h, name), name);
  }

  // An arena's pages and blocks in address order: [{ off, size, kind, pid,
  // client }], kind 'page', 'live', 'kept' (and 'free' with { free: true }).
  blocks(arena, opts = {}) {
    return native.blocks(this._h, arena, !!opts.free);
  }

  // The names bound in an arena: [{ name, off, size, uid, pid }].
  names(arena) {
    return native.names(this._h, arena);
  }

  daemonStats() {
    return native.daemonStats(this._h);
  }

  ping() {
    native.ping(this._h);
  }

  get serverVersion() {
    return native.serverVersion(this._h);
  }

  close() {
    native.clientClose(this._h);
  }
}

function connect(socketPath, opts) {
  return new Client(socketPath, opts);
}

// The version of the libofaclient loaded ("MAJOR.MINOR.PATCH").
function libraryVersion() {
  return native.libraryVersion();
}

module.exports = { connect, libraryVersion, Client, Arena };
