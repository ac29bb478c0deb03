/**
 * Test helper: rebuilds, from the E2E dev set in ../shared, the hypothesis/reference sets that
 * tools/metrics_oracle_coco.py scored with pycocoevalcap (fixtures/metrics/coco-e2e-dev.json).
 * No dataset text is committed; the selection rules are the ones recorded in the fixture.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { meteorCacheDir } from '../../src/metrics/index.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** `$PREFIX_TUNING_SHARED`, else `<repo>/../shared`. */
export const sharedDir = (): string => {
  const env = process.env.PREFIX_TUNING_SHARED;
  return env !== undefined && env !== '' ? resolve(env) : resolve(repoRoot, '..', 'shared');
};

export const devsetPath = (): string => join(sharedDir(), 'data', 'e2e', 'devset.csv');
export const hasDevset = (): boolean => existsSync(devsetPath());

export const fixture = <T = any>(name: string): T =>
  JSON.parse(readFileSync(join(repoRoot, 'fixtures', 'metrics', name), 'utf8')) as T;

/** RFC 4180 CSV (quoted fields, doubled quotes, line breaks inside quotes). */
export const parseCsv = (text: string): string[][] => {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
};

/** devset.csv grouped by MR: groups in order of first appearance, references in file order. */
export const devGroups = (): [string, string[]][] => {
  const rows = parseCsv(readFileSync(devsetPath(), 'utf8'));
  const header = rows[0];
  const mi = header.indexOf('mr');
  const ri = header.indexOf('ref');
  const groups = new Map<string, string[]>();
  for (const r of rows.slice(1)) {
    if (r.length < 2) continue;
    const list = groups.get(r[mi]) ?? [];
    list.push(r[ri]);
    groups.set(r[mi], list);
  }
  return [...groups.entries()];
};

const parseMr = (mr: string): Map<string, string> =>
  new Map(mr.split(', ').map((part) => {
    const k = part.indexOf('[');
    return [part.slice(0, k), part.slice(k + 1, -1)] as [string, string];
  }));

/** The template baseline of tools/metrics_oracle_coco.py (same function). */
export const template = (mr: string): string => {
  const f = parseMr(mr);
  let s = `${f.get('name')} is a ${f.get('eatType') ?? 'restaurant'}`;
  if (f.has('food')) s += ` serving ${f.get('food')} food`;
  if (f.has('area')) s += ` in the ${f.get('area')}`;
  if (f.has('near')) s += ` near ${f.get('near')}`;
  s += '.';
  if (f.has('priceRange')) s += ` It has a price range of ${f.get('priceRange')}.`;
  if (f.has('customer rating')) s += ` Its customer rating is ${f.get('customer rating')}.`;
  if (f.has('familyFriendly')) s += f.get('familyFriendly') === 'yes' ? ' It is family friendly.' : ' It is not family friendly.';
  return s;
};

export type SetName = 'heldout-first' | 'heldout-last' | 'template';

/** One of the fixture's hypothesis sets: `refs[i]` are the references of `hyps[i]`. */
export const buildSet = (name: SetName, groups = devGroups()): { refs: string[][]; hyps: string[] } => {
  const refs: string[][] = [];
  const hyps: string[] = [];
  for (const [mr, rs] of groups) {
    if (name === 'heldout-first') {
      hyps.push(rs[0]);
      refs.push(rs.slice(1));
    } else if (name === 'heldout-last') {
      hyps.push(rs[rs.length - 1]);
      refs.push(rs.slice(0, -1));
    } else {
      hyps.push(template(mr));
      refs.push(rs.slice());
    }
  }
  return { refs, hyps };
};

/**
 * METEOR data for the equality tests: `$PREFIX_TUNING_METEOR_DATA`, else what `prefix-tune
 * fetch-meteor` installed in the cache, else pycocoevalcap's `meteor/` directory in the oracle's
 * virtualenv (/work/venvs/coco) when this machine has it.
 */
export const meteorDataDir = (): string | undefined => {
  const env = process.env.PREFIX_TUNING_METEOR_DATA;
  if (env !== undefined && env !== '') return existsSync(env) ? env : undefined;
  // what `prefix-tune fetch-meteor` installed ($PREFIX_TUNING_CACHE/meteor-1.5)
  const fetched = meteorCacheDir();
  if (existsSync(join(fetched, 'meteor-1.5.jar'))) return fetched;
  const venvLib = '/work/venvs/coco/lib';
  if (!existsSync(venvLib)) return undefined;
  for (const py of readdirSync(venvLib)) {
    const d = join(venvLib, py, 'site-packages', 'pycocoevalcap', 'meteor');
    if (existsSync(join(d, 'meteor-1.5.jar'))) return d;
  }
  return undefined;
};

