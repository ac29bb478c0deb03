// Preloaded with --import into a CLI process under test: from the Nth file opened for writing
// whose path contains FAULT_FS_MATCH, `open` fails with FAULT_FS_CODE (ENOSPC, EACCES, ...), as
// a full disk or a permission change would make the storage layer fail; no disk is filled.
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

const match = process.env.FAULT_FS_MATCH ?? '/checkpoint/';
const after = Number(process.env.FAULT_FS_AFTER ?? 0);
const code = process.env.FAULT_FS_CODE ?? 'ENOSPC';
const text = { ENOSPC: 'no space left on device', EACCES: 'permission denied' }[code] ?? code;
let seen = 0;
const open = fsp.open;
fsp.open = async (path, flags, mode) => {
  if (String(path).includes(match) && typeof flags === 'string' && /[wa]/.test(flags) && ++seen > after)
    throw Object.assign(new Error(`${code}: ${text}, open '${String(path)}'`), { code, syscall: 'open', path: String(path) });
  return open(path, flags, mode);
};
syncBuiltinESMExports();
