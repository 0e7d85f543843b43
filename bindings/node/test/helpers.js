'use strict';
// Test helpers: a real ofad on a socket in a fresh temporary directory,
// stopped (and its directory removed) by the test that started it, pass or
// fail. The daemon gets SIGTERM if this process dies first (setpriv
// --pdeathsig), so it never outlives the test run; on SIGTERM it removes
// its socket and segments.
//
// OFAD_PATH names the ofad to run; from the build tree's package it
// defaults to the ofad built next to it.

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const buildRoot = path.resolve(__dirname, '..', '..', '..');
const OFAD = process.env.OFAD_PATH || path.join(buildRoot, 'daemon', 'ofad');
const XLANG_PEER = process.env.OFA_XLANG_PEER || path.join(buildRoot, 'tests', 'xlang_peer');
const PYTHON = process.env.OFA_PYTHON || '/usr/bin/python3';
const PYTHONPATH = process.env.OFA_PYTHONPATH || path.join(buildRoot, 'bindings', 'python');
const PYTHON_PEER = path.join(PYTHONPATH, 'tests', 'peer.py');

// Starts ofad with the given --arena specs; resolves once it serves.
function startDaemon(arenas = ['t,page_size=64K,max=16M']) {
  if (!fs.existsSync(OFAD)) {
    throw new Error('no ofad at ' + OFAD + ' (build ofa, or set OFAD_PATH)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ofa-node-'));
  const socket = path.join(dir, 'ofad.sock');
  const args = ['--pdeathsig', 'TERM', OFAD, '--socket', socket];
  for (const a of arenas) args.push('--arena', a);
  const proc = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk;
      if (/serving socket=/.test(log)) {
        proc.stderr.off('data', onData);
        proc.stderr.resume(); // keep draining the log
        resolve({ socket, dir, proc, stop: () => stopDaemon(proc, dir), log: () => log });
      }
    };
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', onData);
    proc.once('exit', (code, sig) => {
      fs.rmSync(dir, { recursive: true, force: true });
      reject(new Error('ofad exited (' + (sig || code) + ') before serving:\n' + log));
    });
  });
}

// SIGTERM, wait for the exit; resolves to the exit code. Removes the dir.
function stopDaemon(proc, dir) {
  return new Promise((resolve) => {
    const done = (code, sig) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(sig ? 128 : code);
    };
    if (proc.exitCode !== null || proc.signalCode !== null) {
      done(proc.exitCode, proc.signalCode);
      return;
    }
    proc.removeAllListeners('exit');
    proc.once('exit', done);
    proc.kill('SIGTERM');
  });
}

// Runs a program to completion; returns { status, stdout, stderr }.
function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  return r;
}

// Runs this directory's peer.js in a new Node.js process.
function nodePeer(args) {
  return run(process.execPath, [path.join(__dirname, 'peer.js'), ...args]);
}

function pythonAvailable() {
  return fs.existsSync(PYTHON) && fs.existsSync(PYTHON_PEER) &&
    run(PYTHON, ['-c', 'import ofa'], { PYTHONPATH }).status === 0;
}

function pythonPeer(args) {
  return run(PYTHON, [PYTHON_PEER, ...args], { PYTHONPATH });
}

function cPeer(args) {
  return run(XLANG_PEER, args);
}

module.exports = { startDaemon, run, nodePeer, pythonPeer, cPeer, pythonAvailable, XLANG_PEER };
