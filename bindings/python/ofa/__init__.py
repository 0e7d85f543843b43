"""ofa: blocks of shared memory from the ofa daemon (ofad), named by offsets
and seen through zero-copy memoryviews and numpy arrays.

    import ofa
    with ofa.connect("/run/ofad/ofad.sock") as c:
        a = c.open_arena("frames")
        off = a.alloc(4096, zero=True)        # an int, valid in every process
        a.buffer(off, 4096)[0] = 42           # a writable memoryview, no copy
        x = a.ndarray(off, "float32", (32, 32))
        a.free(off)

The package wraps libofaclient with ctypes (see README.md for why, and for
what views mean after free and close). A connection serves one call at a
time: calls from several threads take turns on its lock, and each call
releases the GIL while it waits for the daemon.
"""
import ctypes
import errno as _errno
import threading
import weakref

from . import _lib
from ._lib import lib

__all__ = ["connect", "library_version", "Client", "Arena", "Error", "KEEP", "ZERO", "PRIVATE",
           "SHARED"]
__version__ = "0.1.0"


def library_version():
    """The version of the libofaclient loaded, as "MAJOR.MINOR.PATCH"."""
    return lib.ofa_version_string().decode()

KEEP = 1
ZERO = 2
PRIVATE = 4  # only this connection (its session) may free the block
SHARED = 16  # an ordinary block, in an arena whose default is private
EXCL = 8


class Error(OSError):
    """An error of libofaclient or the daemon: errno is the error number,
    code its name ("ENOENT"), strerror ofa's sentence for it."""

    @property
    def code(self):
        return _errno.errorcode.get(self.errno, "E%d" % self.errno)


def _error(what, rc):
    return Error(-rc, "%s: %s" % (what, lib.ofa_strerror(rc).decode()))


def _check(what, rc):
    """rc of a libofaclient call just made on this thread: its failures
    carry ofa_errmsg(), which names the arena, offset or socket."""
    if rc < 0:
        raise Error(-rc, "%s: %s" % (what, lib.ofa_errmsg().decode(errors="replace")))
    return rc


def _name(name):
    if not isinstance(name, str):
        raise TypeError("arena names are str")
    b = name.encode()
    if b"\0" in b:
        raise _error("name", -_errno.EINVAL)
    return b


def _bname(name):
    """A block name (1 to 255 bytes of A-Z a-z 0-9 . _ : / -)."""
    if not isinstance(name, str):
        raise TypeError("block names are str")
    return name.encode()


def _u64(what, v):
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError("%s must be an int" % what)
    if v < 0 or v >= 1 << 64:
        raise _error(what, -_errno.EINVAL)
    return v


class _Pin:
    """One ofa_pin: the page's mapping stays while this object lives. The
    buffers and arrays of Arena.buffer and Arena.ndarray hold it."""

    __slots__ = ("_m", "__weakref__")

    def __init__(self, m):
        self._m = m

    def __del__(self):
        # ofa_unpin is safe on any thread and after the connection is gone.
        lib.ofa_unpin(self._m)


def _stats_dict(s):
    d = {name: getattr(s, name) for name in _lib.STATS_FIELDS}
    d["align"] = s.align
    d["private"] = bool(s.private_default)
    d["cache_max"] = s.cache_max
    d["blocks_cached"] = s.blocks_cached
    d["bytes_cached"] = s.bytes_cached
    return d


def _info_dict(info):
    d = {"name": info.name.decode(), "uid": info.uid, "gid": info.gid, "mode": info.mode,
         "readable": info.stats.page_size != 0}
    d.update(_stats_dict(info.stats))
    return d


class Arena:
    """An arena opened on a connection (Client.open_arena)."""

    def __init__(self, client, handle, name):
        self._client = client  # keeps the connection open while the arena is
        self._a = handle
        self.name = name
        self.writable = bool(lib.ofa_arena_writable(handle))

    def _handle(self, what):
        if self._a is None:
            raise _error(what, -_errno.EBADF)
        return self._a

    def alloc(self, size, keep=False, zero=False, align=0, private=False, shared=False):
        """Allocates size bytes; returns the block's offset."""
        flags = ((KEEP if keep else 0) | (ZERO if zero else 0) | (PRIVATE if private else 0)
                 | (SHARED if shared else 0))
        off = ctypes.c_uint64()
        with self._client._lock:
            rc = lib.ofa_alloc_ex(self._handle("alloc"), _u64("size", size), _u64("align", align),
                                  flags, ctypes.byref(off))
        _check("alloc", rc)
        return off.value

    def alloc_many(self, size, count, keep=False, zero=False, align=0, private=False,
                   shared=False):
        """count blocks of one size in one round trip, all or none: a list of offsets."""
        flags = ((KEEP if keep else 0) | (ZERO if zero else 0) | (PRIVATE if private else 0)
                 | (SHARED if shared else 0))
        if not isinstance(count, int) or count <= 0 or count > 65536:
            raise _error("alloc_many", -_errno.EINVAL)
        offs = (ctypes.c_uint64 * count)()
        with self._client._lock:
            rc = lib.ofa_alloc_many(self._handle("alloc_many"), _u64("size", size),
                                    _u64("align", align), flags, count, offs)
        _check("alloc_many", rc)
        return list(offs)

    def free(self, off):
        with self._client._lock:
            rc = lib.ofa_free(self._handle("free"), _u64("offset", off))
        _check("free", rc)

    def free_many(self, offs):
        """Frees the offsets in order, stopping at the first that is not a
        live block; returns how many were freed."""
        offs = list(offs)
        arr = (ctypes.c_uint64 * len(offs))(*[_u64("offset", o) for o in offs])
        with self._client._lock:
            rc = lib.ofa_free_many(self._handle("free_many"), arr, len(offs))
        return _check("free_many", rc)

    def _pin(self, what, off, size):
        m = ctypes.c_void_p()
        p = ctypes.c_void_p()
        with self._client._lock:
            rc = lib.ofa_pin(self._handle(what), _u64("offset", off), _u64("size", size),
                             ctypes.byref(m), ctypes.byref(p))
        _check(what, rc)
        return _Pin(m.value), p.value

    def buffer(self, off, size):
        """A memoryview (format "B") of the size bytes at off, zero copy;
        read-only on a read-only handle. It keeps the page mapped."""
        pin, addr = self._pin("buffer", off, size)
        if size == 0:
            return memoryview(b"")
        raw = (ctypes.c_char * size).from_address(addr)
        raw._ofa_pin = pin
        view = memoryview(raw).cast("B")
        return view if self.writable else view.toreadonly()

    def ndarray(self, off, dtype, shape):
        """A numpy array of dtype and shape over the bytes at off, zero copy
        (read-only on a read-only handle). It keeps the page mapped."""
        import numpy as np

        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        count = 1
        for n in shape:
            if not isinstance(n, int) or n < 0:
                raise _error("ndarray", -_errno.EINVAL)
            count *= n
        if off % dtype.alignment != 0:
            raise _error("ndarray", -_errno.EINVAL)
        return np.frombuffer(self.buffer(off, count * dtype.itemsize), dtype=dtype,
                             count=count).reshape(shape)

    def stats(self):
        """The arena's statistics: the keys of `ofactl stats --json`."""
        s = _lib.ArenaStats()
        with self._client._lock:
            rc = lib.ofa_stats(self._handle("stats"), ctypes.byref(s))
        _check("stats", rc)
        return _stats_dict(s)

    def alloc_named(self, name, size, excl=False):
        """Finds the block bound to name, or allocates a kept block of size
        bytes and binds name to it, atomically: (off, created). excl: a
        bound name raises EEXIST instead."""
        off = ctypes.c_uint64()
        with self._client._lock:
            rc = lib.ofa_alloc_named(self._handle("alloc_named"), _bname(name), _u64("size", size),
                                     EXCL if excl else 0, ctypes.byref(off))
        _check("alloc_named", rc)
        return off.value, rc == 1

    def bind_name(self, name, off):
        """Binds name to the live kept block at off."""
        with self._client._lock:
            rc = lib.ofa_name_bind(self._handle("bind_name"), _bname(name), _u64("offset", off))
        _check("bind_name", rc)

    def unbind_name(self, name):
        """Unbinds name (the block stays)."""
        with self._client._lock:
            rc = lib.ofa_name_unbind(self._handle("unbind_name"), _bname(name))
        _check("unbind_name", rc)

    def lookup(self, name):
        """The block bound to name: (off, size); ENOENT if none."""
        off, size = ctypes.c_uint64(), ctypes.c_uint64()
        with self._client._lock:
            rc = lib.ofa_lookup(self._handle("lookup"), _bname(name), ctypes.byref(off),
                                ctypes.byref(size))
        _check("lookup", rc)
        return off.value, size.value

    def lookup_wait(self, name, timeout_ms=-1):
        """As lookup, once name is bound (a bind wakes the wait: no polling),
        or ETIMEDOUT after timeout_ms (negative: no limit). Waits on a
        connection of its own, holding no lock of this one."""
        self._handle("lookup_wait")
        with Client(self._client._path) as c:
            a = c.open_arena(self.name)
            off, size = ctypes.c_uint64(), ctypes.c_uint64()
            rc = lib.ofa_lookup_wait(a._a, _bname(name), int(timeout_ms), ctypes.byref(off),
                                     ctypes.byref(size))
            _check("lookup_wait", rc)
            return off.value, size.value

    def block_size(self, off):
        """The size of the live block at off, as the arena rounded it."""
        size = ctypes.c_uint64()
        with self._client._lock:
            rc = lib.ofa_block_size(self._handle("block_size"), _u64("offset", off),
                                    ctypes.byref(size))
        _check("block_size", rc)
        return size.value

    def wait(self, off, expected, timeout_ms=-1):
        """Sleeps while the 32-bit word at off holds expected, until wake()
        on it from any process or timeout_ms passes (negative: no limit).
        Returns "ok" (woken; may be spurious: re-read the word), "not-equal"
        or "timed-out". Holds only a pin, not the connection, and releases
        the GIL: other threads go on using the connection meanwhile."""
        pin, addr = self._pin("wait", off, 4) if off % 4 == 0 else self._bad("wait")
        rc = lib.ofa_wait_addr(addr, expected & 0xFFFFFFFF, int(timeout_ms))
        del pin
        if rc == -_errno.EAGAIN:
            return "not-equal"
        if rc == -_errno.ETIMEDOUT:
            return "timed-out"
        _check("wait", rc)
        return "ok"

    def wake(self, off, count=None):
        """Wakes up to count (default all) waiters on the word at off;
        returns how many woke. Change the word first."""
        pin, addr = self._pin("wake", off, 4) if off % 4 == 0 else self._bad("wake")
        n = 0x7FFFFFFF if count is None else count
        if not isinstance(n, int) or n < 0:
            raise _error("wake", -_errno.EINVAL)
        rc = lib.ofa_wake_addr(addr, min(n, 0x7FFFFFFF))
        del pin
        return _check("wake", rc)

    def _bad(self, what):
        raise _error(what, -_errno.EINVAL)

    def trim(self):
        """Unmaps pages the daemon no longer holds (pinned ones stay until
        their views go); returns how many."""
        with self._client._lock:
            rc = lib.ofa_arena_trim(self._handle("trim"))
        return _check("trim", rc)

    def close(self):
        """Closes the handle: blocks it allocated without keep are freed.
        Views stay readable (see README.md)."""
        with self._client._lock:
            if self._a is not None:
                lib.ofa_arena_close(self._a)
                self._a = None
                self._client._arenas.discard(self)

    def __del__(self):
        try:
            self.close()
        except AttributeError:  # a constructor that failed
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client:
    """A connection to ofad (connect)."""

    def __init__(self, path=None, timeout_ms=None):
        self._lock = threading.RLock()  # re-entered when a finalizer closes an arena
        self._arenas = weakref.WeakSet()
        self._c = None
        self._path = path  # for lookup_wait's connection of its own
        c = ctypes.c_void_p()
        _check("connect", lib.ofa_connect(None if path is None else str(path).encode(),
                                          ctypes.byref(c)))
        self._c = c
        if timeout_ms is not None:
            self.set_timeout(timeout_ms)

    def set_timeout(self, ms):
        """The deadline of each later call in ms (0: none). A call that
        misses it raises ETIMEDOUT; the next one connects again and resumes
        the session."""
        if not isinstance(ms, int) or ms < 0 or ms > 0xFFFFFFFF:
            raise _error("set_timeout", -_errno.EINVAL)
        with self._lock:
            rc = lib.ofa_set_timeout(self._handle("set_timeout"), ms)
        _check("set_timeout", rc)

    def _handle(self, what):
        if self._c is None:
            raise _error(what, -_errno.ENOTCONN)
        return self._c

    def create_arena(self, name, page_size=0, max_bytes=0, align=0, mode=0o600, private=False,
                     cache_max=0):
        cfg = _lib.ArenaConfig(_u64("page_size", page_size), _u64("max_bytes", max_bytes),
                               align, mode, 1 if private else 0, _u64("cache_max", cache_max))
        with self._lock:
            rc = lib.ofa_arena_create(self._handle("create_arena"), _name(name), ctypes.byref(cfg))
        _check("create_arena", rc)

    def drop_arena(self, name, force=False):
        with self._lock:
            rc = lib.ofa_arena_drop(self._handle("drop_arena"), _name(name), 1 if force else 0)
        _check("drop_arena", rc)

    def arenas(self):
        """Every arena: dicts with name, uid, gid, mode, readable and the
        stats keys."""
        p = ctypes.POINTER(_lib.ArenaInfo)()
        n = ctypes.c_size_t()
        with self._lock:
            rc = lib.ofa_arena_list(self._handle("arenas"), ctypes.byref(p), ctypes.byref(n))
        _check("arenas", rc)
        try:
            return [_info_dict(p[i]) for i in range(n.value)]
        finally:
            _lib.libc.free(p)

    def arena_info(self, name):
        info = _lib.ArenaInfo()
        with self._lock:
            rc = lib.ofa_arena_info_get(self._handle("arena_info"), _name(name),
                                        ctypes.byref(info))
        _check("arena_info", rc)
        return _info_dict(info)

    def open_arena(self, name):
        a = ctypes.c_void_p()
        with self._lock:
            rc = lib.ofa_arena_open(self._handle("open_arena"), _name(name), ctypes.byref(a))
            _check("open_arena", rc)
            arena = Arena(self, a, name)
            self._arenas.add(arena)
        return arena

    def blocks(self, arena, free=False):
        """An arena's pages and blocks in address order: dicts with off,
        size, kind ("page", "live", "kept", and "free" with free=True), pid
        and client (the owner's, for "live")."""
        kinds = ("live", "kept", "free", "page")
        cursor = ctypes.c_uint64(0)
        out = []
        while True:
            p = ctypes.POINTER(_lib.BlockInfo)()
            n = ctypes.c_size_t()
            with self._lock:
                rc = lib.ofa_block_list(self._handle("blocks"), _name(arena), 1 if free else 0,
                                        ctypes.byref(cursor), ctypes.byref(p), ctypes.byref(n))
            _check("blocks", rc)
            try:
                out += [{"off": p[i].off, "size": p[i].size,
                         "kind": kinds[p[i].kind] if p[i].kind < 4 else "unknown",
                         "pid": p[i].pid, "client": p[i].client} for i in range(n.value)]
            finally:
                _lib.libc.free(p)
            if cursor.value == 0:
                return out

    def names(self, arena):
        """The names bound in an arena: dicts with name, off, size, uid, pid."""
        p = ctypes.POINTER(_lib.NameInfo)()
        n = ctypes.c_size_t()
        with self._lock:
            rc = lib.ofa_name_list(self._handle("names"), _name(arena), ctypes.byref(p),
                                   ctypes.byref(n), None)
        _check("names", rc)
        try:
            return [{"name": p[i].name.decode(), "off": p[i].off, "size": p[i].size,
                     "uid": p[i].uid, "pid": p[i].pid} for i in range(n.value)]
        finally:
            _lib.libc.free(p)

    def daemon_stats(self):
        d = _lib.DaemonInfo()
        with self._lock:
            rc = lib.ofa_daemon_stats(self._handle("daemon_stats"), ctypes.byref(d))
        _check("daemon_stats", rc)
        return {"version": d.version.decode(), "uptime_s": d.uptime_s, "clients": d.clients,
                "arenas": d.arenas, "bytes_reserved": d.bytes_reserved,
                "bytes_limit": d.bytes_limit, "pid": d.pid}

    def ping(self):
        with self._lock:
            rc = lib.ofa_ping(self._handle("ping"))
        _check("ping", rc)

    @property
    def server_version(self):
        with self._lock:
            return lib.ofa_server_version(self._handle("server_version")).decode()

    def close(self):
        """Closes the connection and its arenas: the daemon frees every block
        it allocated without keep. Views stay readable (see README.md)."""
        with self._lock:
            if self._c is None:
                return
            for arena in list(self._arenas):
                arena._a = None
            self._arenas.clear()
            lib.ofa_disconnect(self._c)
            self._c = None

    def __del__(self):
        if getattr(self, "_c", None) is not None:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(path=None, timeout_ms=None):
    """Connects to ofad at path; None means $OFAD_SOCKET, else the default
    socket. timeout_ms: the deadline of each call (default $OFAD_TIMEOUT_MS,
    else libofaclient's). Usable as a context manager."""
    return Client(path, timeout_ms)
