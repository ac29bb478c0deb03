/** Minimal, dependency-free command dispatcher and option parser for `prefix-tune`. */

/** One option of a command, as documented by `--help`. */
export interface OptionSpec {
  readonly name: string; // long name without dashes, e.g. "max-new-tokens"
  readonly type: 'string' | 'number' | 'boolean' | 'list';
  readonly description: string;
  readonly default?: string | number | boolean;
  readonly required?: boolean;
  readonly short?: string; // single letter
}

/** A sub-command. `run` receives parsed options and positionals; returns an exit code. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string; // e.g. "prefix-tune score --refs REFS --hyp HYP [options]"
  readonly options: readonly OptionSpec[];
  readonly positionals?: string; // description of positional arguments, if any
  readonly run: (opts: Readonly<Record<string, unknown>>, positionals: readonly string[]) => Promise<number>;
}

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {}

const helpFor = (c: Command): string => {
  const lines = [`${c.summary}`, '', `Usage: ${c.usage}`];
  if (c.positionals) lines.push('', `Arguments: ${c.positionals}`);
  if (c.options.length > 0) {
    lines.push('', 'Options:');
    for (const o of c.options) {
      const flag = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'boolean' ? '' : ` <${o.type}>`}`;
      const def = o.default !== undefined ? ` (default: ${String(o.default)})` : o.required ? ' (required)' : '';
      lines.push(`  ${flag.padEnd(34)} ${o.description}${def}`);
    }
  }
  lines.push(`  ${'-h, --help'.padEnd(34)} show this help`);
  return lines.join('\n');
};

const topHelp = (cs: readonly Command[]): string =>
  [
    'prefix-tune: prefix-tuning (Li & Liang, 2021) for frozen language models',
    '',
    'Usage: prefix-tune <command> [options]    (prefix-tune <command> --help for details)',
    '',
    'Commands:',
    ...cs.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
  ].join('\n');

/** Parses `argv` against a command's option specs. Throws UsageError on a bad option. */
export const parseOptions = (
  c: Command,
  argv: readonly string[],
): { opts: Record<string, unknown>; positionals: string[]; help: boolean } => {
  const opts: Record<string, unknown> = {};
  const positionals: string[] = [];
  let help = false;
  for (const o of c.options) if (o.default !== undefined) opts[o.name] = o.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') { help = true; continue; }
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    const [rawName, inline] = a.startsWith('--') ? splitEq(a.slice(2)) : [a.slice(1), undefined];
    const spec = c.options.find((o) => o.name === rawName || o.short === rawName)
      ?? (rawName.startsWith('no-') ? c.options.find((o) => o.name === rawName.slice(3) && o.type === 'boolean') : undefined);
    if (!spec) throw new UsageError(`unknown option '${a.startsWith('--') ? `--${rawName}` : a}' for '${c.name}' (see prefix-tune ${c.name} --help)`);
    if (spec.type === 'boolean') {
      opts[spec.name] = inline !== undefined ? inline !== 'false' : !rawName.startsWith('no-');
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new UsageError(`option '--${spec.name}' needs a value`);
    if (spec.type === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`option '--${spec.name}' expects a number, got '${v}'`);
      opts[spec.name] = n;
    } else if (spec.type === 'list') {
      opts[spec.name] = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    } else opts[spec.name] = v;
  }
  if (!help)
    for (const o of c.options)
      if (o.required && opts[o.name] === undefined) throw new UsageError(`missing required option '--${o.name}' (see prefix-tune ${c.name} --help)`);
  return { opts, positionals, help };
};

const splitEq = (s: string): [string, string | undefined] => {
  const i = s.indexOf('=');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
};

/** Runs the CLI; returns the process exit code. */
export const runCli = async (cs: readonly Command[], argv: readonly string[]): Promise<number> => {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(topHelp(cs));
    return name === undefined ? 2 : 0;
  }
  const c = cs.find((x) => x.name === name);
  if (!c) {
    console.error(`prefix-tune: unknown command '${name}' (see prefix-tune --help)`);
    return 2;
  }
  try {
    const { opts, positionals, help } = parseOptions(c, rest);
    if (help) { console.log(helpFor(c)); return 0; }
    return await c.run(opts, positionals);
  } catch (e) {
    if (e instanceof UsageError) { console.error(`prefix-tune ${c.name}: ${e.message}`); return 2; }
    throw e;
  }
};
