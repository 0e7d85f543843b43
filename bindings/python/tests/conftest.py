"""Test fixtures: a real ofad on a socket in a fresh temporary directory,
stopped and removed by the test that started it, pass or fail.

The daemon is waited for through a NOTIFY_SOCKET of our own (READY=1, as
systemd would see it), gets SIGTERM if the test process dies first
(PR_SET_PDEATHSIG), and on SIGTERM removes its socket and segments.
OFAD_PATH names the ofad; from the build tree it defaults to the one built
there.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# The package these tests test: the copy they sit in (the build tree's, whose
# ofa/_config.py names the built libofaclient, or the source tree's).
sys.path.insert(0, os.path.dirname(HERE))
BUILD = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
OFAD = os.environ.get("OFAD_PATH") or os.path.join(BUILD, "daemon", "ofad")
OFACTL = os.environ.get("OFACTL_PATH") or os.path.join(BUILD, "client", "ofactl")
XLANG_PEER = os.environ.get("OFA_XLANG_PEER") or os.path.join(BUILD, "tests", "xlang_peer")
PEER = os.path.join(HERE, "peer.py")
WAIT_S = 20


def _die_with_parent():
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Daemon:
    def __init__(self, arenas):
        if not os.path.exists(OFAD):
            raise RuntimeError("no ofad at %s (build ofa, or set OFAD_PATH)" % OFAD)
        self.dir = tempfile.mkdtemp(prefix="ofa-py-")
        self.socket = os.path.join(self.dir, "ofad.sock")
        notify = os.path.join(self.dir, "notify")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify)
        ns.settimeout(WAIT_S)
        args = [OFAD, "--socket", self.socket]
        for a in arenas:
            args += ["--arena", a]
        env = dict(os.environ, NOTIFY_SOCKET=notify)
        self.log = open(os.path.join(self.dir, "ofad.log"), "w+")
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=_die_with_parent)
        try:
            while b"READY=1" not in ns.recv(4096).split(b"\n"):
                pass
        except socket.timeout:
            self.stop()
            raise RuntimeError("ofad did not become ready")
        finally:
            ns.close()

    def stop(self):
        """SIGTERM and wait; returns the exit code (-9 if it had to be
        killed). Removes the directory whatever happens."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)  # a test may have stopped it
                self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                code = -9
            self.log.seek(0)
            sys.stderr.write(self.log.read())
            return code
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def daemon():
    d = Daemon(["t,page_size=64K,max=1M", "other,page_size=64K,max=1M,mode=0644"])
    try:
        yield d
    finally:
        assert d.stop() == 0


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=WAIT_S * 3, **kw)


def peer(*args, **kw):
    """Runs peer.py in a new Python process (this interpreter)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    return run([sys.executable, PEER] + [str(a) for a in args], env=env, **kw)
