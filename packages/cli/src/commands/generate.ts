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
import type { StreamEvent } from '@prefix-tuning/hub';
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

/**
 * Writes streamed outputs as the plain output's lines (the same bytes), in order: pieces of the
 * sequence being printed go out at once, those of later sequences wait for their turn.
 */
const streamLines = async (events: AsyncIterable<StreamEvent>, perPrompt: number): Promise<void> => {
  const write = (t: string) => { if (t !== '') process.stdout.write(printable(oneLine(t))); };
  let current = 0;
  const waiting = new Map<number, string[]>();
  const done = new Set<number>();
  for await (const e of events) {
    const q = e.type === 'token' ? e.index * perPrompt + e.sequence : e.output.index * perPrompt + e.output.sequence;
    const text = e.type === 'token' ? e.text : e.rest;
    if (q === current) write(text);
    else waiting.set(q, [...(waiting.get(q) ?? []), text]);
    if (e.type === 'done') done.add(q);
    while (done.has(current)) {
      process.stdout.write('\n');
      current += 1;
      for (const t of waiting.get(current) ?? []) write(t);
      waiting.delete(current);
    }
  }
};

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
    'output are written as \\\\, \\r and \\n (--json gives the text unchanged). --stream prints the same',
    'lines as the text comes (a word at a time; beam search at the end of each prompt).',
  ].join('\n'),
  options: [
    { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id', required: true },
    { name: 'adapter', short: 'a', type: 'string', description: 'adapter directory (adapter_config.json + adapter_model.safetensors)' },
    { name: 'prompt', short: 'p', type: 'string', description: 'one prompt ("" = from BOS)' },
    { name: 'input', short: 'i', type: 'string', description: 'prompts, one per line (or a .jsonl with "source" fields)' },
    ...decodingOptions(DEFAULTS),
    { name: 'json', type: 'boolean', description: 'print one JSON object per prompt: {prompt, ids, text, score}' },
    { name: 'stream', type: 'boolean', description: 'print each output as it is generated (plain text; one prompt at a time)' },
  ],
  run: async (opts) => {
    if ((opts['prompt'] === undefined) === (opts['input'] === undefined)) throw new UsageError('give exactly one of --prompt TEXT and --input FILE');
    const texts = opts['prompt'] !== undefined ? [String(opts['prompt'])] : readPrompts(String(opts['input']));
    if (texts.length === 0) throw new UsageError(`${String(opts['input'])}: no prompts`);
    if (opts['stream'] === true && opts['json'] === true) throw new UsageError('--stream prints plain text as it comes; --json prints whole results: choose one');
    // the decoding options over the model's generation_config.json: usage errors before the weights load
    const dec = parseDecoding(opts, DEFAULTS, generationDefaults(await modelDirOrExit(String(opts['model']))));
    const backend = await backendFromOptions(opts);
    const model = await loadModelOrExit(String(opts['model']));
    const adapter = opts['adapter'] !== undefined ? await readAdapterDir(String(opts['adapter']), model, String(opts['model'])) : undefined;
    const gen = await makeGenerator(backend, model, adapter);
    try {
      if (opts['stream'] === true) {
        await streamLines(gen.stream(texts, { ...dec, batchSize: 1 }), dec.numReturnSequences ?? 1);
        return 0;
      }
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
