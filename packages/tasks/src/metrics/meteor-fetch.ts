/**
 * Installs METEOR 1.5's own resources (`meteor-1.5.jar`: function words, WordNet synonym tables,
 * non-breaking prefixes; `data/paraphrase-en.gz`: the paraphrase table) from PyPI's
 * `pycocoevalcap` distribution into the project cache, `<cache root>/meteor-1.5/`, where
 * {@link loadMeteorResources} finds them when no location is given.
 *
 * The file is chosen from the index's JSON API (`<index>/pycocoevalcap/json`: a wheel, else the
 * sdist), its sha256 is checked against the digest the index publishes, and only the two METEOR
 * files are kept. The index is `https://pypi.org/pypi` unless `indexUrl` or
 * `$PREFIX_TUNING_PYPI_URL` says otherwise (tests point it at a local server).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { cacheRoot, type DataEnv } from '../data/paths.ts';
import { readTarGz, readZip } from './meteor-archive.ts';

/** The default index (PyPI's JSON API root). */
export const PYPI_URL = 'https://pypi.org/pypi';

/** Where fetched METEOR data lives: `<cache root>/meteor-1.5`. */
export const meteorCacheDir = (env: DataEnv = process.env): string => join(cacheRoot(env), 'meteor-1.5');

type PypiFile = { readonly filename: string; readonly url: string; readonly packagetype: string; readonly digests: { readonly sha256: string } };

/** The files kept, by where they end inside the distribution → where they go under the cache dir. */
const WANTED: readonly (readonly [string, string])[] = [
  ['pycocoevalcap/meteor/meteor-1.5.jar', 'meteor-1.5.jar'],
  ['pycocoevalcap/meteor/data/paraphrase-en.gz', join('data', 'paraphrase-en.gz')],
];

/** Options of {@link fetchMeteorData}. */
export type FetchMeteorOptions = {
  readonly indexUrl?: string;
  readonly env?: DataEnv;
  /** a release of pycocoevalcap (default: the latest) */
  readonly version?: string;
  readonly log?: (line: string) => void;
};

/** Result: the directory written and the distribution file it came from. */
export type FetchedMeteor = { readonly dir: string; readonly file: string; readonly sha256: string };

const get = async (url: string): Promise<E.Either<string, Buffer>> => {
  try {
    const r = await fetch(url);
    if (!r.ok) return E.left(`${url}: HTTP ${r.status}`);
    return E.right(Buffer.from(await r.arrayBuffer()));
  } catch (e) {
    return E.left(`${url}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`);
  }
};

/** Downloads pycocoevalcap, checks its sha256 and installs METEOR's jar and paraphrase table. */
export const fetchMeteorData = async (opts: FetchMeteorOptions = {}): Promise<E.Either<string, FetchedMeteor>> => {
  const env = opts.env ?? process.env;
  const index = (opts.indexUrl ?? (env.PREFIX_TUNING_PYPI_URL !== undefined && env.PREFIX_TUNING_PYPI_URL !== '' ? env.PREFIX_TUNING_PYPI_URL : PYPI_URL)).replace(/\/+$/, '');
  const jsonUrl = `${index}/pycocoevalcap/${opts.version !== undefined ? `${opts.version}/` : ''}json`;
  const meta = await get(jsonUrl);
  if (E.isLeft(meta)) return meta;
  let files: PypiFile[];
  try {
    const j = JSON.parse(meta.right.toString('utf8')) as { urls?: PypiFile[] };
    files = (j.urls ?? []).filter((f) => typeof f?.url === 'string' && typeof f?.filename === 'string' && typeof f?.digests?.sha256 === 'string');
  } catch (e) {
    return E.left(`${jsonUrl}: not JSON (${(e as Error).message})`);
  }
  const file = files.find((f) => f.packagetype === 'bdist_wheel' && f.filename.endsWith('.whl')) ?? files.find((f) => f.filename.endsWith('.tar.gz'));
  if (file === undefined) return E.left(`${jsonUrl}: no wheel or .tar.gz among the release's files`);
  opts.log?.(`downloading ${file.filename} from ${new URL(file.url, jsonUrl).host}`);
  const body = await get(new URL(file.url, jsonUrl).href);
  if (E.isLeft(body)) return body;
  const sha = createHash('sha256').update(body.right).digest('hex');
  if (sha !== file.digests.sha256.toLowerCase()) return E.left(`${file.filename}: sha256 ${sha} differs from the index's ${file.digests.sha256}: not installed`);
  let entries: ReadonlyMap<string, () => Buffer>;
  if (file.filename.endsWith('.whl')) {
    const z = readZip(body.right, file.filename);
    if (E.isLeft(z)) return z;
    entries = z.right;
  } else {
    const t = readTarGz(body.right, file.filename);
    if (E.isLeft(t)) return t;
    entries = new Map([...t.right].map(([k, v]) => [k, () => v]));
  }
  const dir = meteorCacheDir(env);
  const found: [string, Buffer][] = [];
  for (const [suffix, to] of WANTED) {
    const name = [...entries.keys()].find((k) => k === suffix || k.endsWith(`/${suffix}`));
    if (name === undefined) return E.left(`${file.filename}: no ${suffix} in it`);
    found.push([to, entries.get(name)!()]);
  }
  // each file written beside its place and renamed: a broken download never leaves half a file
  for (const [to, bytes] of found) {
    const p = join(dir, to);
    mkdirSync(dirname(p), { recursive: true });
    const tmp = `${p}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, bytes);
      renameSync(tmp, p);
    } catch (e) {
      rmSync(tmp, { force: true });
      return E.left(`${p}: ${(e as Error).message}`);
    }
  }
  return E.right({ dir, file: file.filename, sha256: sha });
};
