/**
 * The `prefix-tune` command: a registry of sub-commands. Each command lives in
 * `commands/<name>.ts` and exports a `Command`; add it to `commands` below.
 * Exit codes: 0 success, 1 runtime failure, 2 usage error (bad option, missing file).
 */
import { commands } from './commands/index.ts';
import { runCli } from './cli.ts';

process.exitCode = await runCli(commands, process.argv.slice(2));
