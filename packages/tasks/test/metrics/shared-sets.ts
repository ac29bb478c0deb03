/**
 * Rebuilds, from ../shared, the hypothesis/reference sets that the oracle scripts
 * (tools/metrics_oracle_*.py, see tools/metrics_oracle_common.py for the rules) scored with the
 * official scorers. Only the rules and the expected numbers are committed; the text is read in
 * place. The SHA-256 of the source and of the e2e-metrics text files tie the rebuilt inputs to
 * the ones the oracle saw.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { pyStrip } from '../../src/metrics/mteval-tokenize.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const sharedDir = process.env.PREFIX_TUNING_SHARED ?? join(repoRoot, '..', 'shared');
export const fixturesDir = join(repoRoot, 'fixtures', 'metrics');

const Slice = t.partial({ start: t.number, stop: t.union([t.number, t.null]), step: t.number });

/** A selection rule (see tools/metrics_oracle_common.py). */
export const Rule = t.union([
  t.intersection([t.type({ kind: t.literal('e2e-holdout'), source: t.string, hyp_index: t.number }), Slice,
    t.partial({ max_refs: t.union([t.number, t.null]) })]),
  t.intersection([t.type({ kind: t.literal('jsonl-fields'), source: t.string, hyp_field: t.string, ref_fields: t.array(t.string) }), Slice]),
  t.intersection([t.type({ kind: t.literal('lead'), source: t.string, lines: t.number, ref_fields: t.array(t.string) }), Slice]),
]);
export type Rule = t.TypeOf<typeof Rule>;

/** Decodes a fixture with its codec or throws with the io-ts report (a broken fixture is a bug). */
export const decodeFixture = <A>(codec: t.Type<A, unknown>, file: string): A => {
  const raw: unknown = JSON.parse(readFileSync(join(fixturesDir, file), 'utf8'));
  const r = codec.decode(raw);
  if (E.isLeft(r)) throw new Error(`${file}: ${PathReporter.report(r).join('; ')}`);
  return r.right;
};

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** Why the shared data cannot be used (missing), or undefined. */
export const sharedMissing = (source: string): string | undefined =>
  existsSync(join(sharedDir, source)) ? undefined : `${join(sharedDir, source)} not found (set PREFIX_TUNING_SHARED)`;

/** Python's csv.reader (excel dialect) on a whole file. */
export const parseCsv = (text: string): string[][] => {
  const rows: string[][] = [];
  let row: string[] = [], field = '', i = 0, quoted = false, fieldStarted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
      fieldStarted = false;
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      fieldStarted = false;
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else {
      field += c;
      fieldStarted = true;
    }
    i++;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
};

const slice = <A>(xs: readonly A[], r: { start?: number; stop?: number | null; step?: number }): A[] => {
  const start = r.start ?? 0, stop = r.stop ?? xs.length, step = r.step ?? 1;
  const out: A[] = [];
  for (let i = start; i < Math.min(stop, xs.length); i += step) out.push(xs[i]);
  return out;
};

/** E2E references grouped by consecutive identical MR. */
export const e2eGroups = (text: string): string[][] => {
  const [header, ...body] = parseCsv(text);
  const mr = header.indexOf('mr'), ref = header.indexOf('ref');
  const groups: string[][] = [];
  let current: string | undefined;
  for (const row of body) {
    if (groups.length === 0 || row[mr] !== current) {
      groups.push([]);
      current = row[mr];
    }
    groups[groups.length - 1].push(row[ref]);
  }
  return groups;
};

const readJsonl = (text: string): Record<string, string>[] =>
  text.split(/\r\n|\r|\n/).filter((l) => pyStrip(l) !== '').map((l) => JSON.parse(l) as Record<string, string>);

/** The first `n` non-blank, stripped lines of a dialogue, joined with newlines. */
export const leadLines = (dialogue: string, n: number): string =>
  dialogue.replace(/\r\n/g, '\n').split('\n').map(pyStrip).filter((l) => l !== '').slice(0, n).join('\n');

/** The set selected by `rule`: hypotheses and, per hypothesis, its references. */
export const buildSet = (rule: Rule): { hyps: string[]; refs: string[][] } => {
  const text = readFileSync(join(sharedDir, rule.source), 'utf8');
  if (rule.kind === 'e2e-holdout') {
    const hyps: string[] = [], refs: string[][] = [];
    for (const g of slice(e2eGroups(text), rule)) {
      const i = ((rule.hyp_index % g.length) + g.length) % g.length;
      let rest = [...g.slice(0, i), ...g.slice(i + 1)];
      if (rule.max_refs) rest = rest.slice(0, rule.max_refs);
      hyps.push(g[i]);
      refs.push(rest);
    }
    return { hyps, refs };
  }
  const rows = slice(readJsonl(text), rule);
  const refs = rows.map((r) => rule.ref_fields.map((f) => r[f]));
  return rule.kind === 'jsonl-fields'
    ? { hyps: rows.map((r) => r[rule.hyp_field]), refs }
    : { hyps: rows.map((r) => leadLines(r.dialogue, rule.lines)), refs };
};

/** The e2e-metrics plain-text inputs (as tools/metrics_oracle_common.py writes them). */
export const e2eTextFiles = (hyps: readonly string[], refs: readonly (readonly string[])[]): { refTxt: string; hypTxt: string } => ({
  refTxt: refs.map((r) => r.join('\n')).join('\n\n') + '\n',
  hypTxt: hyps.join('\n') + '\n',
});

/** Largest absolute difference of two equally long arrays. */
export const maxAbsDiff = (a: readonly number[], b: readonly number[]): number => {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
};
