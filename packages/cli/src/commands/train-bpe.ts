/**
 * `prefix-tune train-bpe`: a byte-level BPE vocabulary (GPT-2's scheme) learned on a
 * sample of the pretraining corpus's training documents (the validation slice is never read),
 * written as `tokenizer.json` + `tokenizer_config.json`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { bpeTokenizerConfig, bpeTokenizerJson, countWords, trainBpe, writeFileAtomic } from '@prefix-tuning/hub';
import { sharedDir } from '@prefix-tuning/tasks';
import { UsageError, type Command } from '../cli.ts';
import { listShards, readDocs, validationSlice } from '../pretrain/corpus.ts';

/** The default corpus: `$PREFIX_TUNING_SHARED/data/corpus`, else `<repo>/../shared/data/corpus`. */
export const defaultCorpusDir = (): string => join(sharedDir(), 'data', 'corpus');

export const trainBpeCommand: Command = {
  name: 'train-bpe',
  summary: 'learn a byte-level BPE vocabulary (GPT-2 scheme) on a sample of the pretraining corpus',
  usage: 'prefix-tune train-bpe --out DIR [--vocab-size N] [--corpus DIR] [--chars-per-shard N]',
  options: [
    { name: 'out', short: 'o', type: 'string', description: 'directory for tokenizer.json and tokenizer_config.json', required: true },
    { name: 'vocab-size', type: 'number', description: 'ids in all: 256 bytes + merges + <|endoftext|>', default: 4096 },
    { name: 'corpus', type: 'string', description: 'corpus directory (<source>/*.gz of <doc> blocks; default: $PREFIX_TUNING_SHARED/data/corpus or ../shared/data/corpus)' },
    { name: 'chars-per-shard', type: 'number', description: 'characters of training documents read from each shard', default: 400_000 },
    { name: 'min-word-count', type: 'number', description: 'ignore words seen fewer times', default: 2 },
    { name: 'model-max-length', type: 'number', description: 'model_max_length written to tokenizer_config.json', default: 256 },
  ],
  run: async (opts) => {
    const corpus = String(opts['corpus'] ?? defaultCorpusDir());
    const shards = listShards(corpus);
    if (shards.length === 0) throw new UsageError(`no corpus shards under ${corpus} (expected <source>/*.gz files of <doc> blocks)`);
    const vocabSize = Number(opts['vocab-size']);
    if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize > 65536) throw new UsageError(`--vocab-size must be an integer in [257, 65536], got ${vocabSize}`);
    const per = Number(opts['chars-per-shard']);
    const t0 = performance.now();
    const counts = new Map<string, number>();
    let chars = 0;
    for (const s of shards) {
      const skip = (await validationSlice(s)).skip;
      let i = 0;
      let got = 0;
      for await (const d of readDocs(s.path)) {
        if (i++ < skip) continue;
        const take = d.slice(0, per - got);
        countWords([take], counts);
        got += take.length;
        if (got >= per) break;
      }
      chars += got;
    }
    const v = trainBpe(counts, { vocabSize, minWordCount: Number(opts['min-word-count']) });
    const out = String(opts['out']);
    mkdirSync(out, { recursive: true });
    for (const [f, json] of [['tokenizer.json', bpeTokenizerJson(v)], ['tokenizer_config.json', bpeTokenizerConfig(v, Number(opts['model-max-length']))]] as const) {
      const w = await writeFileAtomic(join(out, f), `${JSON.stringify(json, null, 2)}\n`);
      if (E.isLeft(w)) {
        console.error(`prefix-tune train-bpe: ${w.left}`);
        return 1;
      }
    }
    console.log(`wrote ${out}: ${v.tokens.length} ids (${v.merges.length} merges) from ${chars.toLocaleString('en-US')} characters of ${shards.length} shards, ${counts.size.toLocaleString('en-US')} distinct words, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
