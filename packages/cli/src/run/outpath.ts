/**
 * Output paths checked before any work, each problem one line: the path exists as a file, lies
 * under a file, cannot be written, or is on a pseudo-filesystem (/proc, /sys, ...: writes there
 * fail late or block). Write errors during a run (ENOSPC, EACCES, ...) become one line naming the
 * file (`writeFailure`).
 */
import { accessSync, constants, realpathSync, statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { UsageError } from '../cli.ts';

/** statfs magic numbers of Linux pseudo-filesystems (linux/magic.h). */
const PSEUDO_FS: Readonly<Record<number, string>> = {
  0x9fa0: 'proc', 0x62656572: 'sysfs', 0x1cd1: 'devpts', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2',
  0x64626720: 'debugfs', 0x74726163: 'tracefs', 0x73636673: 'securityfs', 0xcafe4a11: 'bpf',
  0x6e736673: 'nsfs', 0x50495045: 'pipefs', 0x534f434b: 'sockfs', 0x42494e4d: 'binfmt_misc',
  0xf97cff8c: 'selinuxfs', 0x6165676c: 'pstore', 0xde5e81e4: 'efivarfs', 0x1021994: 'devtmpfs',
};
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];

const statOf = (p: string) => {
  try {
    return statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return 'under-file' as const;
    throw e;
  }
};

/** The pseudo-filesystem `p` (an existing path) lies on, if any. */
const pseudoFs = (p: string): string | undefined => {
  let real = p;
  try {
    real = realpathSync(p);
  } catch { /* keep p */ }
  const root = PSEUDO_ROOTS.find((r) => real === r || real.startsWith(`${r}/`));
  try {
    const t = PSEUDO_FS[statfsSync(real).type];
    if (t) return t;
  } catch { /* no statfs: fall back to the path */ }
  return root ? root.slice(1) : undefined;
};

/**
 * Checks that `path` can be (or is) a directory this process writes into. `what` names the
 * option in the message (e.g. `--out`).
 */
export const checkOutDir = (path: string, what = '--out'): E.Either<string, void> => {
  const abs = resolve(path);
  // the nearest existing ancestor (the path itself when it exists); ENOTDIR: some ancestor is a file
  let at = abs;
  let s = statOf(at);
  while ((s === undefined || s === 'under-file') && dirname(at) !== at) s = statOf((at = dirname(at)));
  if (s === undefined || s === 'under-file') return E.left(`${what} ${path}: no existing parent directory`);
  if (!s.isDirectory()) return E.left(at === abs ? `${what} ${path} exists and is not a directory` : `${what} ${path} lies under ${at}, which is a file`);
  const fs = pseudoFs(at);
  if (fs) return E.left(`${what} ${path} is on the ${fs} pseudo-filesystem; choose a directory on a disk`);
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch {
    return E.left(at === abs ? `${what} ${path} is not writable` : `${what} ${path} cannot be created: ${at} is not writable`);
  }
  return E.right(undefined);
};

/** Checks an output file's directory (`--output FILE`-style options). */
export const checkOutFile = (path: string, what: string): E.Either<string, void> => {
  const s = statOf(resolve(path));
  if (s !== undefined && s !== 'under-file' && s.isDirectory()) return E.left(`${what} ${path} is a directory`);
  return checkOutDir(dirname(resolve(path)), what);
};

/** Error codes of a write that failed for a reason outside the program (disk full, permissions, ...). */
const IO_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'EFBIG', 'ENOTDIR', 'EISDIR']);

/**
 * A one-line message for a failed write during a run (an errno error, or the Left of
 * `writeFileAtomic`: "PATH: cannot write (CODE: ...)"), or undefined when it is no such error.
 * `intact` says what survives (e.g. "the previous checkpoint (step 40) is intact").
 */
export const writeFailure = (e: unknown, intact: string): string | undefined => {
  const err = e as NodeJS.ErrnoException;
  const text = String(err?.message ?? e);
  const atomic = /^(.+?): cannot write \(.*?\b(E[A-Z]{3,})\b/.exec(text);
  const code = err?.code ?? atomic?.[2] ?? /\b(E[A-Z]{3,})\b/.exec(text)?.[1];
  if (code === undefined || !IO_CODES.has(code)) return undefined;
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'no space left on the device'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code;
  const file = atomic?.[1] ?? err?.path ?? /'([^']+)'/.exec(text)?.[1] ?? '?';
  return `cannot write ${file}: ${why} (${code}); ${intact}`;
};

/** `checkOutDir` for a command's entry: throws the one-line UsageError (exit 2). */
export const requireOutDir = (path: string, what = '--out'): void => {
  const ok = checkOutDir(path, what);
  if (E.isLeft(ok)) throw new UsageError(ok.left);
};
