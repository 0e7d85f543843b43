"""The Python package against a real ofad: the API, its errors, views that
outlive their block and their connection, read-only handles."""
import errno
import json
import os
import pwd
import signal
import subprocess
import sys
import threading

import pytest

import ofa
from conftest import OFACTL, run


def test_alloc_buffer_stats_free(daemon):
    with ofa.connect(daemon.socket) as c:
        assert c.server_version.startswith("ofad ")
        assert c.server_version.endswith(" " + ofa.library_version())
        a = c.open_arena("t")
        assert a.writable
        off = a.alloc(4096, zero=True)
        assert isinstance(off, int) and off > 0
        b = a.buffer(off, 4096)
        assert isinstance(b, memoryview) and not b.readonly and len(b) == 4096
        assert bytes(b) == bytes(4096)
        b[0:5] = b"hello"
        # A second view sees the first's write: the same bytes, no copy.
        assert bytes(a.buffer(off, 5)) == b"hello"
        assert bytes(a.buffer(off + 1, 2)) == b"el"
        s = a.stats()
        assert s["blocks_live"] == 1 and s["bytes_live"] == 4096 and s["page_size"] == 65536
        aligned = a.alloc(100, keep=True, align=4096)
        assert aligned % 4096 == 0
        a.free(aligned)
        a.free(off)
        assert a.stats()["blocks_live"] == 0


def test_ndarray(daemon):
    np = pytest.importorskip("numpy")
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        off = a.alloc(64 * 4, zero=True)
        x = a.ndarray(off, np.float32, (8, 8))
        assert x.shape == (8, 8) and x.dtype == np.float32 and x.flags.writeable
        x[:] = np.arange(64, dtype=np.float32).reshape(8, 8)
        y = a.ndarray(off, "float32", 64)
        assert y[63] == 63.0
        assert a.ndarray(off, np.uint8, (256,))[4:8].tobytes() == np.float32(1).tobytes()
        with pytest.raises(ofa.Error) as e:
            a.ndarray(off + 2, np.float32, 1)  # misaligned
        assert e.value.errno == errno.EINVAL


def test_stats_keys_are_ofactl_json_keys(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        a.alloc(1000)
        mine = a.stats()
        out = run([OFACTL, "--socket", daemon.socket, "stats", "t", "--json"])
        assert out.returncode == 0, out.stderr
        theirs = [r for r in json.loads(out.stdout)["arenas"] if r["name"] == "t"][0]
        for k in ("name", "uid", "gid", "mode", "readable"):
            theirs.pop(k)
        assert set(mine) == set(theirs)
        # The figures agree too (so the ctypes structures match the header's).
        for k in ("page_size", "max_bytes", "align", "bytes_live", "blocks_live", "allocs",
                  "pages", "bytes_reserved"):
            assert mine[k] == theirs[k], k


def test_arenas_create_list_drop(daemon):
    with ofa.connect(daemon.socket) as c:
        c.create_arena("made", page_size=65536, max_bytes=1 << 20, align=128, mode=0o640)
        names = [r["name"] for r in c.arenas()]
        assert names == ["made", "other", "t"]
        rec = c.arena_info("made")
        assert rec["mode"] & 0o777 == 0o640 and rec["align"] == 128 and rec["readable"]
        a = c.open_arena("made")
        a.alloc(10)
        with pytest.raises(ofa.Error) as e:
            c.drop_arena("made")
        assert e.value.code == "EBUSY"
        c.drop_arena("made", force=True)
        with pytest.raises(ofa.Error) as e:
            a.alloc(10)
        assert e.value.errno == errno.ENOENT
        assert c.daemon_stats()["arenas"] == 2


def test_blocks(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        live = a.alloc(100)
        kept = a.alloc(200, keep=True)
        at = {b["off"]: b for b in c.blocks("t")}
        assert at[live]["kind"] == "live" and at[live]["pid"] == os.getpid()
        assert at[live]["size"] >= 100
        assert at[kept]["kind"] == "kept"
        assert any(b["kind"] == "page" and b["size"] == 65536 for b in at.values())
        assert any(b["kind"] == "free" for b in c.blocks("t", free=True))
        assert code_of(c.blocks, "missing") == "ENOENT"
        a.free(live)
        a.free(kept)


def code_of(fn, *args, **kw):
    with pytest.raises(ofa.Error) as e:
        fn(*args, **kw)
    assert isinstance(e.value, OSError)
    assert e.value.code == errno.errorcode[e.value.errno]
    return e.value.code


def test_every_error_has_its_errno(daemon):
    assert code_of(ofa.connect, os.path.join(daemon.dir, "nothing.sock")) == "ENOENT"
    c = ofa.connect(daemon.socket)
    assert code_of(c.open_arena, "missing") == "ENOENT"
    assert code_of(c.open_arena, "bad name!") == "EINVAL"
    assert code_of(c.create_arena, "t") == "EEXIST"
    assert code_of(c.create_arena, "x", page_size=3) == "EINVAL"
    a = c.open_arena("t")
    assert code_of(a.alloc, 0) == "EINVAL"
    assert code_of(a.alloc, 2 << 20) == "ENOMEM"
    assert code_of(a.alloc, -1) == "EINVAL"
    assert code_of(a.alloc, 64, align=3) == "EINVAL"
    assert code_of(a.free, 12345) == "EINVAL"
    assert code_of(a.buffer, 1 << 60, 1) == "ENOENT"
    off = a.alloc(64)
    assert code_of(a.buffer, off, 65537) == "EINVAL"  # past the page
    assert code_of(a.alloc_many, 64, 0) == "EINVAL"
    with pytest.raises(TypeError):
        a.alloc("64")
    a.close()
    assert code_of(a.alloc, 8) == "EBADF"
    c.close()
    assert code_of(c.open_arena, "t") == "ENOTCONN"
    assert code_of(c.ping) == "ENOTCONN"


def test_views_outlive_free_and_close(daemon):
    c = ofa.connect(daemon.socket)
    a = c.open_arena("t")
    big = a.alloc(200000)  # a page of its own: freeing it releases the page
    small = a.alloc(64)
    vb = a.buffer(big, 200000)
    vs = a.buffer(small, 64)
    vb[199999] = 7
    vs[0] = 3
    a.free(big)
    a.trim()  # gone from the daemon and from the table; the view's pin holds it
    assert vb[199999] == 7  # small lives in the same page: still the daemon's
    vb[0] = 1  # memory no other process sees; no fault
    a.free(small)
    a.close()
    c.close()
    # Released with small's free and punched by the daemon: zeroes, no fault.
    assert vs[0] == 0 and vb[199999] == 0
    vs[1] = 9
    assert vs[1] == 9
    sub = vs[1:3]  # a slice holds the same pin
    del vs, vb
    assert sub[0] == 9


def test_alloc_many_free_many(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        offs = a.alloc_many(128, 100, keep=True)
        assert len(set(offs)) == 100
        assert a.stats()["blocks_live"] == 100
        # Stops at the first offset that is not a live block.
        assert a.free_many([offs[0], 3, offs[1]]) == 1
        assert a.free_many(offs[1:]) == 99
        assert a.stats()["blocks_live"] == 0


def test_threads_share_a_connection(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        got = []

        def work():
            for _ in range(200):
                off = a.alloc(64)
                a.buffer(off, 64)[0] = 1
                got.append(off)
                a.free(off)

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(got) == 800
        assert a.stats()["blocks_live"] == 0


READ_ONLY_CHILD = r"""
import errno, sys, ofa
c = ofa.connect(sys.argv[1])
a = c.open_arena("other")
assert not a.writable
v = a.buffer(int(sys.argv[2]), 4)
assert v.readonly and bytes(v) == b"ro!!", bytes(v)
try:
    a.alloc(8)
    sys.exit(10)
except ofa.Error as e:
    assert e.errno == errno.EACCES and e.code == "EACCES"
try:
    c.open_arena("t")
    sys.exit(11)
except ofa.Error as e:
    assert e.code == "EACCES"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as nobody")
def test_read_only_handle_as_nobody(daemon):
    nobody = pwd.getpwnam("nobody")
    os.chmod(daemon.dir, 0o755)
    os.chmod(daemon.socket, 0o666)
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("other")  # mode 0644: others read
        off = a.alloc(4)
        a.buffer(off, 4)[:] = b"ro!!"
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ofa.__file__)))

        def drop():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        r = subprocess.run([sys.executable, "-c", READ_ONLY_CHILD, daemon.socket, str(off)],
                           env=env, preexec_fn=drop, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr


def test_wait_and_wake(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        off = a.alloc(64, zero=True)
        assert a.wait(off, 0, 0) == "timed-out"
        assert a.wait(off, 7, 0) == "not-equal"
        assert a.wait(off, 0, 1) == "timed-out"
        assert a.wake(off) == 0
        # A waiting thread holds no lock of the connection: this thread's
        # calls go on, then it changes the word and wakes the waiter.
        got = []
        t = threading.Thread(target=lambda: got.append(a.wait(off + 8, 0, 60000)))
        t.start()
        other = a.alloc(8)
        a.free(other)
        a.buffer(off + 8, 4)[0] = 1
        assert a.wake(off + 8) <= 1
        t.join()
        assert got[0] in ("ok", "not-equal")
        assert code_of(a.wait, off + 2, 0, 0) == "EINVAL"
        assert code_of(a.wake, off + 1) == "EINVAL"
        assert code_of(a.wait, 1 << 60, 0, 0) == "ENOENT"


def test_deadline_of_a_stopped_daemon(daemon):
    c = ofa.connect(daemon.socket, timeout_ms=5000)
    c.ping()
    assert code_of(c.set_timeout, -1) == "EINVAL"
    c.set_timeout(300)
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        assert code_of(c.ping) == "ETIMEDOUT"
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    # The connection was dropped; the next call connects again and resumes.
    c.ping()
    c.close()


def test_named_blocks(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        got = []
        # The wait travels on a connection of its own: this one goes on.
        t = threading.Thread(target=lambda: got.append(a.lookup_wait("frame/1", 60000)))
        t.start()
        off, created = a.alloc_named("frame/1", 100)
        assert created
        assert a.alloc_named("frame/1", 50) == (off, False)
        assert code_of(a.alloc_named, "frame/1", 50, excl=True) == "EEXIST"
        t.join()
        assert got[0][0] == off and got[0][1] >= 100
        assert a.lookup("frame/1") == got[0]
        assert a.block_size(off) == got[0][1]
        a.bind_name("alias", off)
        assert [(n["name"], n["off"]) for n in c.names("t")] == [("alias", off), ("frame/1", off)]
        a.unbind_name("alias")
        assert code_of(a.lookup, "alias") == "ENOENT"
        assert code_of(a.alloc_named, "bad name!", 8) == "EINVAL"
        assert code_of(a.block_size, off + 8) == "EINVAL"
        assert code_of(a.lookup_wait, "never", 50) == "ETIMEDOUT"
        a.free(off)  # freeing the block unbinds its names
        assert code_of(a.lookup, "frame/1") == "ENOENT"


def test_private_blocks(daemon):
    """Only the allocating connection frees a private block; an arena may
    make them its default, and shared= asks for an ordinary one there."""
    with ofa.connect(daemon.socket) as c1, ofa.connect(daemon.socket) as c2:
        a1 = c1.open_arena("t")
        a2 = c2.open_arena("t")
        off = a1.alloc(64, private=True)
        a1.buffer(off, 64)[:] = b"\x07" * 64
        assert a2.buffer(off, 64)[63] == 7  # everyone may read it
        for call, want in ((lambda: a2.free(off), errno.EACCES),
                           (lambda: a1.alloc(64, private=True, keep=True), errno.EINVAL)):
            with pytest.raises(ofa.Error) as e:
                call()
            assert e.value.errno == want
        a1.free(off)
        with pytest.raises(ofa.Error) as e:
            a1.free(off)
        assert e.value.errno == errno.EINVAL

        c1.create_arena("priv", page_size=65536, max_bytes=1 << 20, private=True, cache_max=8192)
        p1 = c1.open_arena("priv")
        p2 = c2.open_arena("priv")
        st = p1.stats()
        assert st["private"] and st["cache_max"] == 8192
        mine = p1.alloc(32)  # private: the arena's default
        ours = p1.alloc(32, shared=True)
        with pytest.raises(ofa.Error) as e:
            p2.free(mine)
        assert e.value.errno == errno.EACCES
        p2.free(ours)
        p1.free(mine)
        p1.close()
        p2.close()
        c1.drop_arena("priv", force=True)
