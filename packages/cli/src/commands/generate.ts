/**
 * `prefix-tune generate`: text from a model, optionally steered by an adapter. With `--adapter`
 * the prompts are task sources (encoded as in training: source ++ EOS separator; BART:
 * <s> source </s>); without it they are plain text (`--prompt ""` starts from BOS). With an
 * encoder-decoder model (BART) the prompt is the encoder's source and the decoder starts from
 * `decoder_start_token_id`.
 */
import { type Command } from '../cli.ts';
import { UsageError } from '../cli.ts';
import { loadModelOrExit, modelDirOrExit, requireFile, utf8Text } from '../run/model.ts';
import { readAdapterDir } from '../run/adapter.ts';
import { printable } from '../run/printable.ts';
import { backendFromOptions } from '../run/backend.ts';
import { decodingOptions, generationDefaults, makeGenerator, parseDecoding } from '../run/generation.ts';

const DEFAULTS = { beams: 1, maxNewTokens: 100 };

/** Prompts of an input file: one per line (blank lines skipped), or `source`/`prompt` fields of a .jsonl file. */
export const readPrompts = (path: string): string[] => {
  requireFile(path, '--input');
  const lines = utf8Text(path).split(/\r?\n/);
  if (!path.endsWith('.jsonl')) return lines.filter((l) => l.trim() !== '');
  return lines.flatMap((l, i) => {
    if (l.trim() === '') return [];
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      throw new UsageError(`${path}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    const o = v as Record<string, unknown>;
    const s = typeof o?.['source'] === 'string' ? o['source'] : typeof o?.['prompt'] === 'string' ? o['prompt'] : undefined;
    if (s === undefined) throw new UsageError(`${path}:${i + 1}: expected an object with a string "source" (or "prompt")`);
    return [s as string];
  });
};

/** `text` on one line: backslash, CR and LF escaped as \\, \r, \n (so a reader can undo it). */
export const oneLine = (text: string): string => text.replace(/[\\\r\n]/g, (c) => (c === '\\' ? '\\\\' : c === '\r' ? '\\r' : '\\n'));

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text from a model, optionally with a trained adapter (greedy, beam search or sampling)',
  usage: [
    'prefix-tune generate --model DIR|HUB_ID [--adapter DIR] (--prompt TEXT | --input FILE) [options]',
    '',
    'With --adapter, prompts are task sources (e.g. a linearised E2E table) encoded as in training;',
    'without it they are plain text, and --prompt "" generates from BOS alone.',
    'With an encoder-decoder model (BART) a prompt is the source the output is generated from.',
    '',
    'Plain output is exactly one line per prompt, in prompt order: a backslash, CR and LF inside an',
    'output are written as \\\\, \\r and \\n (--json gives the text unchanged).',
  ].join('\n'),
  options: [
    { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id', required: true },
    { name: 'adapter', short: 'a', type: 'string', description: 'adapter directory (adapter_config.json + adapter_model.safetensors)' },
    { name: 'prompt', short: 'p', type: 'string', description: 'one prompt ("" = from BOS)' },
    { name: 'input', short: 'i', type: 'string', description: 'prompts, one per line (or a .jsonl with "source" fields)' },
    ...decodingOptions(DEFAULTS),
    { name: 'json', type: 'boolean', description: 'print one JSON object per prompt: {prompt, ids, text, score}' },
  ],
  run: async (opts) => {
    if ((opts['prompt'] === undefined) === (opts['input'] === undefined)) throw new UsageError('give exactly one of --prompt TEXT and --input FILE');
    const texts = opts['prompt'] !== undefined ? [String(opts['prompt'])] : readPrompts(String(opts['input']));
    if (texts.length === 0) throw new UsageError(`${String(opts['input'])}: no prompts`);
    // the decoding options over the model's generation_config.json: usage errors before the weights load
    const dec = parseDecoding(opts, DEFAULTS, generationDefaults(await modelDirOrExit(String(opts['model']))));
    const backend = await backendFromOptions(opts);
    const model = await loadModelOrExit(String(opts['model']));
    const adapter = opts['adapter'] !== undefined ? await readAdapterDir(String(opts['adapter']), model, String(opts['model'])) : undefined;
    const gen = await makeGenerator(backend, model, adapter);
    try {
      const outs = await gen.run(texts, dec);
      outs.forEach((o) => {
        if (opts['json'] === true) console.log(JSON.stringify({ prompt: texts[o.index], prompt_ids: o.prompt, ids: o.ids, text: o.text, score: o.score }));
        else console.log(printable(oneLine(o.text)));
      });
    } finally {
      await gen.dispose();
    }
    return 0;
  },
};
