/**
 * The registry of datasets: where each one comes from (official URLs first, pinned to a commit
 * where the host allows it, then mirrors), its checksums where known, and where a local copy
 * lives under the shared directory. Checksums: `sha256` values are those of the files in the
 * project's shared copies, which were checked to be byte-identical to the upstream git blobs;
 * `gitSha1` values are the upstream git blob ids (sha1 of `blob <size>\0<content>`) for files
 * we have no local copy of. XSum's archive has no published checksum.
 */
import * as t from 'io-ts';
import { WEBNLG_2017_FILES } from './webnlg-files.ts';

/** The datasets known to the registry. */
export const DatasetName = t.keyof({
  e2e: null,
  webnlg: null,
  dart: null,
  xsum: null,
  dialogsum: null,
  samsum: null,
  'bbc-news': null,
  scitldr: null,
});
export type DatasetName = t.TypeOf<typeof DatasetName>;

/** One downloadable file: its path in the dataset directory and its URLs (tried in order). */
export const RemoteFile = t.readonly(
  t.intersection([
    t.type({ path: t.string, urls: t.readonlyArray(t.string) }),
    t.partial({ sha256: t.string, gitSha1: t.string, bytes: t.number }),
  ]),
);
export type RemoteFile = t.TypeOf<typeof RemoteFile>;

/** A downloadable archive that, once unpacked into the dataset directory, provides `provides`. */
export const RemoteArchive = t.readonly(
  t.intersection([
    t.type({ name: t.string, urls: t.readonlyArray(t.string), format: t.literal('tar.gz'), provides: t.string }),
    t.partial({ sha256: t.string, bytes: t.number }),
  ]),
);
export type RemoteArchive = t.TypeOf<typeof RemoteArchive>;

/** A dataset: local layout, remote files and archives, and instructions when it cannot be downloaded. */
export const DatasetSource = t.readonly(
  t.intersection([
    t.type({
      name: t.string,
      /** Directory under `<shared>/data/`. */
      sharedPath: t.string,
      homepage: t.string,
      license: t.string,
      files: t.readonlyArray(RemoteFile),
      archives: t.readonlyArray(RemoteArchive),
    }),
    t.partial({
      /** How to obtain the data by hand, when (part of) it cannot be downloaded automatically. */
      manual: t.string,
    }),
  ]),
);
export type DatasetSource = t.TypeOf<typeof DatasetSource>;

const gh = (repo: string, commit: string, path: string) => `https://raw.githubusercontent.com/${repo}/${commit}/${path}`;

const E2E_COMMIT = 'ab0d967dd5729ce455ef14ba9ffafc456a335264';
const DART_COMMIT = 'bb644b12ec1d0264f96a31145534b9a94f6ff5f5';
const DIALOGSUM_COMMIT = '848cc8c05e0a04def79326539de827f1b28786a0';
const SCITLDR_COMMIT = '5ccad9c00a60ad75c9e04abf7f27d0f53f983b20';
const PREFIX_TUNING_COMMIT = '6519d30e69b15a180f23e2cd41b766d3f62b8e82';

/** Every dataset of the registry. */
export const REGISTRY: Readonly<Record<DatasetName, DatasetSource>> = {
  e2e: {
    name: 'e2e',
    sharedPath: 'e2e',
    homepage: 'https://github.com/tuetschek/e2e-dataset',
    license: 'CC BY-SA 4.0',
    files: [
      ['trainset.csv', 'f27d48df45815288ab15619d47a79028c300fbb7f42e373668aba0b98c1d57c6', 9340189],
      ['devset.csv', 'fc26b78cdb849c80545f513b223d1e051138b43882eeb79e3eb153e689c864f9', 1161305],
      ['testset_w_refs.csv', 'edc8db685e39bb9824d5bd70c18b1c9b0412d14b527aa960e2d1c8251ee15ccd', 1310822],
      ['testset.csv', '9b90c8f88feae14d9e1ef37350b14d17294c5958e90a3f1a7846590ee97bdbb9', 88415],
    ].map(([path, sha256, bytes]) => ({
      path: path as string,
      urls: [gh('tuetschek/e2e-dataset', E2E_COMMIT, path as string)],
      sha256: sha256 as string,
      bytes: bytes as number,
    })),
    archives: [],
  },
  webnlg: {
    name: 'webnlg',
    sharedPath: 'webnlg2017',
    homepage: 'https://gitlab.com/shimorina/webnlg-dataset/-/tree/master/webnlg_challenge_2017',
    license: 'CC BY-NC-SA 4.0',
    files: [
      ...WEBNLG_2017_FILES.map(([path, sha256, bytes]) => ({
        path,
        urls: [
          `https://gitlab.com/shimorina/webnlg-dataset/-/raw/master/webnlg_challenge_2017/${path}`,
          gh('XiangLi1999/PrefixTuning', PREFIX_TUNING_COMMIT, `data/webnlg_challenge_2017/${path}`),
        ],
        sha256,
        bytes,
      })),
      {
        // the JSON export read by the official prefix-tuning code (not part of the challenge release)
        path: 'dev.json',
        urls: [gh('XiangLi1999/PrefixTuning', PREFIX_TUNING_COMMIT, 'data/webnlg_challenge_2017/dev.json')],
        sha256: '50f5a2c24d760bc84ba3e852707cd3b43b0cf2da035b425f87945a2440880488',
        bytes: 2596106,
      },
    ],
    archives: [],
  },
  dart: {
    name: 'dart',
    sharedPath: 'dart',
    homepage: 'https://github.com/Yale-LILY/dart',
    license: 'MIT',
    files: [
      {
        path: 'dart-v1.1.1-full-train.json',
        urls: [gh('Yale-LILY/dart', DART_COMMIT, 'data/v1.1.1/dart-v1.1.1-full-train.json')],
        gitSha1: '773adb6db19640ab5328eaddec7ba7495b1702cf',
      },
      {
        path: 'dart-v1.1.1-full-dev.json',
        urls: [gh('Yale-LILY/dart', DART_COMMIT, 'data/v1.1.1/dart-v1.1.1-full-dev.json')],
        sha256: '56606eac12baa7f0ddb81c61890f9f1a95bace4df8f8989852786358fe5d2b88',
        bytes: 2468789,
      },
      {
        path: 'dart-v1.1.1-full-test.xml',
        urls: [gh('Yale-LILY/dart', DART_COMMIT, 'data/v1.1.1/dart-v1.1.1-full-test.xml')],
        sha256: '4f6994d633030278798c114555549a13202780fe0d78ee2e7ac7dcce45a8e233',
        bytes: 3958498,
      },
      {
        path: 'dart-v1.1.1-full-test.json',
        urls: [gh('Yale-LILY/dart', DART_COMMIT, 'data/v1.1.1/dart-v1.1.1-full-test.json')],
        gitSha1: '3b663ea2d25bc5e1a50c73b5b4db800d5dd517dd',
      },
    ],
    archives: [],
  },
  xsum: {
    name: 'xsum',
    sharedPath: 'summarization/xsum',
    homepage: 'https://github.com/EdinburghNLP/XSum',
    license: 'research use (BBC articles)',
    files: [
      {
        path: 'XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json',
        urls: [gh('EdinburghNLP/XSum', 'master', 'XSum-Dataset/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json')],
      },
    ],
    archives: [
      {
        name: 'XSUM-EMNLP18-Summary-Data-Original.tar.gz',
        urls: ['http://bollin.inf.ed.ac.uk/public/direct/XSUM-EMNLP18-Summary-Data-Original.tar.gz'],
        format: 'tar.gz',
        provides: 'bbc-summary-data',
      },
    ],
  },
  dialogsum: {
    name: 'dialogsum',
    sharedPath: 'summarization/dialogsum',
    homepage: 'https://github.com/cylnlp/dialogsum',
    license: 'CC BY-NC-SA 4.0',
    files: [
      ['train', '0a02b0f0cbe801a75384ba28364a7528b9340587'],
      ['dev', 'de762eea17e5e2464e221ac9a1cf5c7c64eec655'],
      ['test', '1975a852f57a07f93fbabe68841c3328e3057f65'],
    ].map(([split, gitSha1]) => ({
      path: `dialogsum.${split}.jsonl`,
      urls: [gh('cylnlp/dialogsum', DIALOGSUM_COMMIT, `DialogSum_Data/dialogsum.${split}.jsonl`)],
      gitSha1,
    })),
    archives: [],
  },
  samsum: {
    name: 'samsum',
    sharedPath: 'summarization/samsum',
    homepage: 'https://arxiv.org/abs/1911.12237',
    license: 'CC BY-NC-ND 4.0',
    files: [],
    archives: [],
    manual:
      'SAMSum is published as a 7z archive (https://arxiv.org/src/1911.12237v2/anc/corpus.7z), which this library ' +
      'cannot unpack. Unpack it yourself so that train.json, val.json and test.json (JSON arrays of {id, dialogue, ' +
      'summary}) are in the directory, or put JSON Lines files train.jsonl, validation.jsonl and test.jsonl there.',
  },
  'bbc-news': {
    name: 'bbc-news',
    sharedPath: 'summarization/bbc-news',
    homepage: 'https://www.kaggle.com/datasets/pariza/bbc-news-summary',
    license: 'research use',
    files: [],
    archives: [],
    manual:
      'BBC News Summary is distributed by Kaggle, which needs a login. Download and unzip it so that the directory ' +
      'contains "News Articles/<category>/*.txt" and "Summaries/<category>/*.txt" (or "BBC News Summary/News Articles/..."), ' +
      'or put a JSON Lines file bbc-news-summary.jsonl of {id, category, document, summary} there.',
  },
  scitldr: {
    name: 'scitldr',
    sharedPath: 'summarization/scitldr',
    homepage: 'https://github.com/allenai/scitldr',
    license: 'Apache-2.0',
    files: [
      ['train', 'b222771d387be585cfdf5ae957b36757138415a352e0a3e3b23f73f87c3b1119', 3155015],
      ['dev', '3191fa98ccc09521332b7a1cd63b1930be4e8df125a235ccd31e40329709525e', 1124865],
      ['test', 'fb42dd6cd4f4a1928ae8a01a189456fbfe994a07e938bd49f68653933f6503c9', 1204107],
    ].map(([split, sha256, bytes]) => ({
      path: `A_${split}.jsonl`,
      urls: [gh('allenai/scitldr', SCITLDR_COMMIT, `SciTLDR-Data/SciTLDR-A/${split}.jsonl`)],
      sha256: sha256 as string,
      bytes: bytes as number,
    })),
    archives: [],
  },
};
