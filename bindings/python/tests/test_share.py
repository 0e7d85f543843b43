"""Processes sharing blocks through offsets: two Python processes over one
numpy array; kept blocks handed from Python to C and to Node.js."""
import os
import shutil
import struct
import subprocess
import sys

import pytest

import ofa
from conftest import BUILD, XLANG_PEER, peer, run

CHILD = r"""
import sys, numpy as np, ofa
with ofa.connect(sys.argv[1]) as c:
    x = c.open_arena("t").ndarray(int(sys.argv[2]), np.float32, (4, 4))
    if not (x == np.arange(16, dtype=np.float32).reshape(4, 4)).all():
        sys.exit(3)
    x[3, 3] = -1.5
"""


def test_two_processes_share_a_numpy_array(daemon):
    np = pytest.importorskip("numpy")
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        off = a.alloc(16 * 4)
        x = a.ndarray(off, np.float32, (4, 4))
        x[:] = np.arange(16, dtype=np.float32).reshape(4, 4)
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ofa.__file__)))
        r = run([sys.executable, "-c", CHILD, daemon.socket, str(off)], env=env)
        assert r.returncode == 0, r.stderr
        assert x[3, 3] == -1.5
        a.free(off)


@pytest.mark.skipif(not os.path.exists(XLANG_PEER), reason="xlang_peer is not built")
def test_kept_block_from_python_to_c(daemon):
    r = peer(daemon.socket, "t", "new", "*,*,*", 0, 2.5)
    assert r.returncode == 0, r.stderr
    off = int(r.stdout)
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        assert a.stats()["blocks_live"] == 1  # kept: it outlived its process
        r = run([XLANG_PEER, daemon.socket, "t", str(off), "2.5,0,0", "1", "4", "free"])
        assert r.returncode == 0, r.stderr
        assert a.stats()["blocks_live"] == 0
        # A peer that finds the wrong value says so.
        off = a.alloc(12, zero=True)
        assert peer(daemon.socket, "t", off, "1,*,*", -1, 0).returncode == 3


NODE_PEER = os.path.join(BUILD, "bindings", "node", "test", "peer.js")
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None or not os.path.exists(NODE_PEER),
                    reason="node or the Node.js package is not available")
def test_kept_block_from_python_to_node(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        off = a.alloc(12, keep=True, zero=True)
        a.buffer(off, 4)[:] = bytes.fromhex("0000c03f")  # 1.5f
    r = run([NODE, NODE_PEER, daemon.socket, "t", str(off), "1.5,0,0", "-1", "0", "free"])
    assert r.returncode == 0, r.stderr
    with ofa.connect(daemon.socket) as c:
        assert c.arena_info("t")["blocks_live"] == 0


@pytest.mark.skipif(not os.path.exists(XLANG_PEER), reason="xlang_peer is not built")
def test_python_waits_c_wakes(daemon):
    with ofa.connect(daemon.socket) as c:
        a = c.open_arena("t")
        off = a.alloc(12, zero=True)
        proc = subprocess.Popen([XLANG_PEER, daemon.socket, "t", str(off), "0,0,0", "0", "1",
                                 "wake"], stderr=subprocess.PIPE, text=True)
        # Woken, or the word changed before this thread slept.
        assert a.wait(off, 0, 60000) in ("ok", "not-equal")
        assert proc.wait(60) == 0, proc.stderr.read()
        assert struct.unpack("<f", a.buffer(off, 4))[0] == 1.0
        a.free(off)
