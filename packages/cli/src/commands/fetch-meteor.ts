/**
 * `prefix-tune fetch-meteor`: installs METEOR 1.5's own data (meteor-1.5.jar and
 * data/paraphrase-en.gz, from PyPI's pycocoevalcap, sha256-checked) into the cache, after which
 * `score`, `eval` and the library's METEOR equal the official scorer by default.
 */
import * as E from 'fp-ts/lib/Either.js';
import { fetchMeteorData, meteorCacheDir, PYPI_URL } from '@prefix-tuning/tasks';
import type { Command } from '../cli.ts';

export const fetchMeteorCommand: Command = {
  name: 'fetch-meteor',
  summary: "install METEOR 1.5's data (jar, paraphrase table) from PyPI's pycocoevalcap into the cache",
  usage: [
    'prefix-tune fetch-meteor [--index-url URL] [--version V]',
    '',
    "Downloads pycocoevalcap's wheel (else its sdist) as the index's JSON API lists it, checks the",
    `sha256 the index publishes, and keeps meteor-1.5.jar and data/paraphrase-en.gz in ${meteorCacheDir().replace(/^.*\/prefix-tuning/, '$PREFIX_TUNING_CACHE')}`,
    '(default cache ~/.cache/prefix-tuning). METEOR then uses them whenever PREFIX_TUNING_METEOR_DATA is unset.',
  ].join('\n'),
  options: [
    { name: 'index-url', type: 'string', description: `PyPI JSON API root (default: $PREFIX_TUNING_PYPI_URL, else ${PYPI_URL})` },
    { name: 'version', type: 'string', description: 'a pycocoevalcap release (default: the latest)' },
  ],
  run: async (opts) => {
    const r = await fetchMeteorData({
      ...(opts['index-url'] !== undefined ? { indexUrl: String(opts['index-url']) } : {}),
      ...(opts['version'] !== undefined ? { version: String(opts['version']) } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    if (E.isLeft(r)) {
      console.error(`prefix-tune fetch-meteor: ${r.left}`);
      return 1;
    }
    console.log(`installed METEOR 1.5 data from ${r.right.file} (sha256 ${r.right.sha256.slice(0, 12)}…) in ${r.right.dir}`);
    return 0;
  },
};
