/**
 * One writer per run directory: `DIR/.lock` holds the owner's pid, host and start time, and is
 * created atomically (a temp file hard-linked to the lock's name: the link fails when the lock
 * exists, on every local file system and on NFS). A lock whose pid is dead on this host is
 * stale (a killed run): it is taken over, under a second atomic lock (`.lock.break`) so that two
 * processes cannot both break it. The lock is removed when the process exits (a SIGKILL leaves
 * it behind: stale by the rule above).
 */
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { UsageError } from '../cli.ts';
import { checkOutDir } from './outpath.ts';

export const LOCK_FILE = '.lock';

export interface LockOwner { readonly pid: number; readonly host: string; readonly started: string; readonly command: string }

/** A held lock: `release` removes it (also done at process exit); `note` says when a stale lock was taken over. */
export interface RunLock { readonly path: string; readonly note?: string; readonly release: () => void }

const readOwner = (path: string): LockOwner | undefined => {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string'
      ? { pid: o.pid, host: o.host, started: String(o.started ?? '?'), command: String(o.command ?? '?') } : undefined;
  } catch {
    return undefined; // being written, or not ours: treated as held
  }
};

/** True when `pid` names no process on this host (EPERM: another user's live process). */
export const pidDead = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

/** Creates `path` with `text` atomically, or returns false when it exists. */
const createExclusive = (path: string, text: string): boolean => {
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
};

const stale = (o: LockOwner | undefined): boolean => o !== undefined && o.host === hostname() && o.pid !== process.pid && pidDead(o.pid);

/** Locks this process holds, by path, with the number of holders. */
const heldHere = new Map<string, { count: number; release: () => void }>();

export const describeOwner = (o: LockOwner): string => `pid ${o.pid} on ${o.host}, since ${o.started}`;

/**
 * Takes the lock of run directory `dir` (which must exist) for this process. Left is one line
 * naming the owner when another live process holds it.
 */
export const lockRunDir = (dir: string, command: string): E.Either<string, RunLock> => {
  const path = join(resolve(dir), LOCK_FILE);
  // re-entrant within one process (quickstart and experiment run train in-process on their --out)
  const held = heldHere.get(path);
  if (held !== undefined) {
    held.count++;
    let released = false;
    return E.right({ path, release: () => { if (!released) { released = true; held.count--; if (held.count === 0) held.release(); } } });
  }
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command };
  const text = `${JSON.stringify(me)}\n`;
  let note: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createExclusive(path, text)) {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        heldHere.delete(path);
        process.off('exit', release);
        if (readOwner(path)?.pid === process.pid) unlinkSync(path);
      };
      process.on('exit', release);
      const entry = { count: 1, release };
      heldHere.set(path, entry);
      return E.right({ path, release: () => { entry.count--; if (entry.count === 0) release(); }, ...(note ? { note } : {}) });
    }
    const owner = readOwner(path);
    if (!stale(owner)) {
      const who = owner ? describeOwner(owner) : 'another process (unreadable lock)';
      return E.left(`${dir} is in use by ${owner?.command ?? 'a run'} (${who}); wait for it to end, or choose another --out (remove ${path} if that process is gone)`);
    }
    // break the stale lock under `.lock.break`; the breaker re-reads the lock so that it never removes a live one
    const brk = `${path}.break`;
    if (!createExclusive(brk, text)) {
      const b = readOwner(brk);
      if (stale(b)) unlinkSync(brk); // a breaker that died in its few lines
      continue;
    }
    try {
      const again = readOwner(path);
      if (again && owner && again.pid === owner.pid && again.started === owner.started) {
        unlinkSync(path);
        note = `took over the lock of a run that is gone (${describeOwner(owner)})`;
      }
    } finally {
      unlinkSync(brk);
    }
  }
  const owner = readOwner(path);
  return E.left(`${dir} is in use (${owner ? describeOwner(owner) : 'lock held'}); choose another --out`);
};

/**
 * Claims `--out` for a command: the path checks (see outpath.ts), then the directory (created)
 * and its lock. Throws a UsageError of one line; prints the takeover note of a stale lock.
 */
export const claimRunDir = (out: string, command: string, note: (line: string) => void): RunLock => {
  const ok = checkOutDir(out);
  if (E.isLeft(ok)) throw new UsageError(ok.left);
  mkdirSync(out, { recursive: true });
  const l = lockRunDir(out, command);
  if (E.isLeft(l)) throw new UsageError(l.left);
  if (l.right.note) note(`${out}: ${l.right.note}`);
  return l.right;
};
