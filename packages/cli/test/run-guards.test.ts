/**
 * The run directory's lock (one writer at a time, stale locks taken over) and the output-path
 * checks made before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { LOCK_FILE, lockRunDir } from '../src/run/lock.ts';
import { checkOutDir, writeFailure } from '../src/run/outpath.ts';
import { repoRoot, rmrf, tempDir } from './train-fixture.ts';

const deadPid = (): number => {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
};

test('a run directory is locked by one process; a second is refused naming the owner; release removes the lock', () => {
  const dir = tempDir('pt-lock-');
  try {
    const a = lockRunDir(dir, 'train');
    assert.ok(E.isRight(a));
    const owner = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string };
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    a.right.release();
    assert.ok(!existsSync(join(dir, LOCK_FILE)));
    // another live process (the test runner's parent) holds it: refused, naming it
    writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify({ pid: process.ppid, host: hostname(), started: 'then', command: 'train' })}\n`);
    const b = lockRunDir(dir, 'train');
    assert.ok(E.isLeft(b));
    assert.match(b.left, new RegExp(`in use by train \\(pid ${process.ppid} on ${hostname()}`));
    assert.ok(!b.left.includes('\n'));
    rmrf(join(dir, LOCK_FILE));
    const c = lockRunDir(dir, 'train');
    assert.ok(E.isRight(c) && c.right.note === undefined);
    c.right.release();
  } finally {
    rmrf(dir);
  }
});

test('a stale lock (dead pid on this host) is taken over with a note; a live or foreign-host one is not', () => {
  const dir = tempDir('pt-lock-');
  try {
    const pid = deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), started: 'then', command: 'train' }));
    const a = lockRunDir(dir, 'train');
    assert.ok(E.isRight(a));
    assert.match(a.right.note ?? '', new RegExp(`took over the lock of a run that is gone \\(pid ${pid}`));
    a.right.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: 'elsewhere', started: 'then', command: 'train' }));
    const b = lockRunDir(dir, 'train');
    assert.ok(E.isLeft(b) && b.left.includes(`pid ${pid} on elsewhere`), 'a pid on another host cannot be checked: refused');
  } finally {
    rmrf(dir);
  }
});

test('eight processes racing for one stale lock: exactly one gets it', async () => {
  const dir = tempDir('pt-lock-');
  try {
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then', command: 'train' }));
    const script = `import { lockRunDir } from ${JSON.stringify(join(repoRoot, 'packages/cli/src/run/lock.ts'))};
      const go = Number(process.argv.at(-2)); while (Date.now() < go) {}
      const r = lockRunDir(process.argv.at(-1), 'train'); console.log(r._tag); setTimeout(() => {}, 1500);`;
    const go = Date.now() + 2500;
    const outs = await Promise.all(Array.from({ length: 8 }, () => new Promise<string>((res) => {
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, String(go), dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      p.stdout.on('data', (d) => { s += String(d); });
      p.on('exit', () => res(s.trim()));
    })));
    assert.deepEqual(outs.filter((o) => o === 'Right').length, 1, outs.join(','));
    assert.deepEqual(outs.filter((o) => o === 'Left').length, 7, outs.join(','));
  } finally {
    rmrf(dir);
  }
});

test('output paths: a file, a path under a file, a pseudo-filesystem, a read-only place: one line each', (t) => {
  const dir = tempDir('pt-out-');
  try {
    const f = join(dir, 'file');
    writeFileSync(f, 'x');
    const left = (p: string) => { const r = checkOutDir(p); assert.ok(E.isLeft(r), p); assert.ok(!r.left.includes('\n')); return r.left; };
    assert.match(left(f), /--out .*file exists and is not a directory/);
    assert.match(left(join(f, 'a', 'b')), /lies under .*file, which is a file/);
    assert.match(left('/proc/x'), /on the proc pseudo-filesystem/);
    assert.match(left('/sys/x/y'), /on the sysfs pseudo-filesystem/);
    assert.ok(E.isRight(checkOutDir(join(dir, 'new', 'deeper'))));
    assert.ok(E.isRight(checkOutDir(dir)));
    // not writable: as root everything is writable, so check it as nobody when we are root
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    chmodSync(dir, 0o755);
    const probe = `import { checkOutDir } from ${JSON.stringify(join(repoRoot, 'packages/cli/src/run/outpath.ts'))};
      const r = checkOutDir(process.argv.at(-1)); console.log(r._tag === 'Left' ? r.left : 'ok');`;
    const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];
    // (nobody must be able to read the checkout: a clone under a 0700 directory is not readable)
    const reachable = asUser.length === 1 ||
      spawnSync(asUser[0]!, [...asUser.slice(1), '-e', `require('fs').accessSync(${JSON.stringify(join(repoRoot, 'node_modules', 'tsx', 'package.json'))})`]).status === 0;
    if (!reachable) {
      t.diagnostic(`not-writable check skipped: user nobody cannot read ${repoRoot}`);
      return;
    }
    const r = spawnSync(asUser[0]!, [...asUser.slice(1), '--import', 'tsx', '--input-type=module', '-e', probe, join(ro, 'run')], {
      cwd: repoRoot, encoding: 'utf8', env: { ...process.env, TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.base.json') },
    });
    assert.match(r.stdout, /--out .*ro\/run cannot be created: .*ro is not writable/, r.stderr);
  } finally {
    rmrf(dir);
  }
});

test('a write failure during a run is one line naming the file and what is intact', () => {
  const e = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC', path: '/x/checkpoint/state.tmp' });
  assert.equal(writeFailure(e, 'the previous checkpoint is intact'), 'cannot write /x/checkpoint/state.tmp: no space left on the device (ENOSPC); the previous checkpoint is intact');
  assert.equal(writeFailure(new Error("/x/run.json: cannot write (EACCES: permission denied, open '/x/.run.json.1.tmp')"), 'nothing else was written'),
    'cannot write /x/run.json: permission denied (EACCES); nothing else was written');
  assert.equal(writeFailure(new Error('a bug'), '-'), undefined);
});

test('the lock is re-entrant within one process (quickstart runs train in-process on its --out): released when the last holder releases', async () => {
  const { lockRunDir } = await import('../src/run/lock.ts');
  const { mkdtempSync, existsSync: has, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join: j } = await import('node:path');
  const dir = mkdtempSync(j(tmpdir(), 'pt-lock-nest-'));
  try {
    const outer = lockRunDir(dir, 'quickstart');
    const inner = lockRunDir(dir, 'train');
    assert.ok(outer._tag === 'Right' && inner._tag === 'Right');
    inner.right.release();
    assert.ok(has(j(dir, '.lock')), 'the outer holder still holds it');
    outer.right.release();
    assert.ok(!has(j(dir, '.lock')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
