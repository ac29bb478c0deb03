/**
 * The decoding options of `generate`/`eval`, parsed from the command line into hub's `Decoding`:
 * the flags become a generation config (the call layer) merged over the model's
 * (`generationDefaults`) by core's `mergeGenerationConfigs` and `resolveGeneration`
 * (transformers' precedence and rules; the README's table). Generation itself (prompt rules per
 * model family, per-row limits, truncation, streaming) is hub's `generator`.
 */
import { hasLogitsProcessors, mergeGenerationConfigs, resolveGeneration, type Backend, type GenerationConfig, type LoadedAdapter } from '@prefix-tuning/core';
import * as E from 'fp-ts/lib/Either.js';
import * as hub from '@prefix-tuning/hub';
import { generator, GenerationError, type Decoding, type Generator, type LoadedModel } from '@prefix-tuning/hub';
import { UsageError, type OptionSpec } from '../cli.ts';
import { deviceOption } from './backend.ts';

/** Options shared by `generate` and `eval`. */
export const decodingOptions = (defaults: { beams: number; maxNewTokens: number }): OptionSpec[] => [
  { name: 'greedy', type: 'boolean', description: `greedy decoding${defaults.beams === 1 ? ' (default)' : ''}` },
  { name: 'beams', type: 'number', description: `beam search with N beams (default: ${defaults.beams})` },
  { name: 'sample', type: 'boolean', description: 'sampling (with --temperature, --top-k, --top-p, --seed)' },
  { name: 'max-new-tokens', type: 'number', description: `tokens to generate at most (default: ${defaults.maxNewTokens}; wins over --max-length, as in transformers)` },
  { name: 'max-length', type: 'number', description: "at most this many tokens in all: the prompt counts for decoder-only models, the decoder's start token for encoder-decoders (transformers' max_length)" },
  { name: 'min-length', type: 'number', description: 'no EOS while the sequence is shorter than this, counted as --max-length (default: 0)' },
  { name: 'min-new-tokens', type: 'number', description: 'no EOS before this many new tokens (default: 0; wins over --min-length)' },
  { name: 'length-penalty', type: 'number', description: 'beam search: score = log-prob / length^X (default: 1)' },
  { name: 'early-stopping', type: 'string', description: 'beam search: true (stop at N finished hypotheses), false (transformers\' heuristic; default) or never (canonical beam search)' },
  { name: 'no-repeat-ngram', type: 'number', description: "never repeat an n-gram of this size (0: off; default: the model's generation_config.json, else off)" },
  { name: 'encoder-no-repeat-ngram', type: 'number', description: "never generate an n-gram of this size that is in the source (the prompt for decoder-only models; 0: off)" },
  { name: 'repetition-penalty', type: 'number', description: 'divide the scores of tokens already in the sequence by X (1: off)' },
  { name: 'encoder-repetition-penalty', type: 'number', description: 'favour tokens of the source by X (the prompt for decoder-only models; 1: off)' },
  { name: 'bad-words-ids', type: 'string', description: 'JSON list of token-id sequences never generated, e.g. [[5],[7,8]]' },
  { name: 'suppress-tokens', type: 'list', description: 'comma-separated token ids never generated' },
  { name: 'begin-suppress-tokens', type: 'list', description: 'comma-separated token ids not generated first' },
  { name: 'forced-bos-token-id', type: 'number', description: 'token forced first (encoder-decoders)' },
  { name: 'forced-eos-token-id', type: 'list', description: 'comma-separated ids forced at the last position --max-length allows' },
  { name: 'eos-token-id', type: 'list', description: "comma-separated ids that end a sequence (default: the model's)" },
  { name: 'pad-token-id', type: 'number', description: "filler after EOS (default: the model's, else the first EOS)" },
  { name: 'decoder-start-token-id', type: 'number', description: "encoder-decoders: the decoder's first token (default: the model's)" },
  { name: 'num-return-sequences', type: 'number', description: 'sequences returned per prompt (beam search: <= --beams; sampling: independent samples)' },
  { name: 'temperature', type: 'number', description: 'sampling temperature (default: 1)' },
  { name: 'top-k', type: 'number', description: 'sample from the k most likely tokens (default: off)' },
  { name: 'top-p', type: 'number', description: 'sample from the smallest set with probability >= p (default: off)' },
  { name: 'seed', type: 'number', description: 'sampling seed (default: 0)' },
  { name: 'truncate', type: 'string', description: "a prompt too long for the model: left (drop its start), right (drop its end) or error (default: left for plain decoder-only prompts, right for task sources and encoder-decoders); every cut is reported" },
  { name: 'batch-size', type: 'number', description: 'prompts decoded together (default: 8; the results do not depend on it)' },
  {
    name: 'tokens-per-run', type: 'number',
    description: 'plain greedy decoding of a decoder-only model: N tokens per backend run (default 1). On CUDA the KV cache then crosses to the GPU once per N tokens; the tokens do not change',
  },
  { name: 'backend', type: 'string', description: 'onnx | tfjs | reference (default: onnx)' },
  deviceOption,
];

const intOpt = (opts: Readonly<Record<string, unknown>>, name: string, min: number): number | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${String(v)}`);
  return n;
};
const numOpt = (opts: Readonly<Record<string, unknown>>, name: string, ok: (n: number) => boolean, what: string): number | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!ok(n)) throw new UsageError(`--${name} must be ${what}, got ${String(v)}`);
  return n;
};
/** A list of token ids (`--eos-token-id 2,5`); a value already parsed (a model default) passes as it is. */
const idsOpt = (opts: Readonly<Record<string, unknown>>, name: string): number[] | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const xs = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [v];
  const ids = xs.map((x) => Number(x));
  if (ids.length === 0 || !ids.every((n) => Number.isInteger(n) && n >= 0)) throw new UsageError(`--${name} must be comma-separated token ids, got ${String(v)}`);
  return ids;
};

/**
 * Each decoding option and the `generation_config.json` key it sets. The model's values come
 * back from `generationDefaults` under the option's name, so the two layers merge key by key.
 */
const OPTION_KEYS: readonly (readonly [option: string, key: keyof GenerationConfig])[] = [
  ['max-new-tokens', 'max_new_tokens'], ['max-length', 'max_length'], ['min-length', 'min_length'], ['min-new-tokens', 'min_new_tokens'],
  ['early-stopping', 'early_stopping'], ['beams', 'num_beams'], ['sample', 'do_sample'], ['temperature', 'temperature'], ['top-k', 'top_k'],
  ['top-p', 'top_p'], ['repetition-penalty', 'repetition_penalty'], ['encoder-repetition-penalty', 'encoder_repetition_penalty'],
  ['length-penalty', 'length_penalty'], ['no-repeat-ngram', 'no_repeat_ngram_size'], ['encoder-no-repeat-ngram', 'encoder_no_repeat_ngram_size'],
  ['bad-words-ids', 'bad_words_ids'], ['suppress-tokens', 'suppress_tokens'], ['begin-suppress-tokens', 'begin_suppress_tokens'],
  ['forced-bos-token-id', 'forced_bos_token_id'], ['forced-eos-token-id', 'forced_eos_token_id'], ['num-return-sequences', 'num_return_sequences'],
  ['eos-token-id', 'eos_token_id'], ['pad-token-id', 'pad_token_id'], ['decoder-start-token-id', 'decoder_start_token_id'],
];
const warnedFiles = new Set<string>();

/**
 * The model's own decoding defaults (hub's `modelGenerationConfig`: generation_config.json, or
 * config.json without one, as transformers reads them) under the command-line options' names
 * (`--beams`, `--sample`, …) for `parseDecoding` to merge under the user's. A value transformers
 * would refuse is a usage error naming the file and the key; a key this library does not
 * implement is named in one warning line. The special ids (EOS, pad, forced BOS/EOS, decoder
 * start) are `specialIds`' (the same file first).
 */
export const generationDefaults = (dir: string): Record<string, unknown> => {
  const d = hub.modelGenerationConfig(dir);
  if (E.isLeft(d)) throw new UsageError(d.left);
  if (d.right.unsupported.length > 0 && !warnedFiles.has(d.right.file)) {
    warnedFiles.add(d.right.file);
    process.stderr.write(`warning: ${d.right.file}: not implemented, ignored: ${d.right.unsupported.join(', ')}\n`);
  }
  const cfg = d.right.config as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [o, k] of OPTION_KEYS) if (cfg[k] !== undefined && !hub.GENERATION_ID_KEYS.has(k)) out[o] = cfg[k];
  return out;
};

/** What `parseDecoding` returns: hub's `Decoding` (the search options, the length rule, truncation, seed, batch size). */
export type { Decoding } from '@prefix-tuning/hub';

/** The user's options as a generation config (the call layer); an explicit mode sets both num_beams and do_sample. */
const callLayer = (opts: Readonly<Record<string, unknown>>): GenerationConfig => {
  const c: Record<string, unknown> = {};
  if (opts['greedy'] === true) Object.assign(c, { num_beams: 1, do_sample: false });
  if (opts['sample'] === true) Object.assign(c, { num_beams: 1, do_sample: true });
  const beams = intOpt(opts, 'beams', 1);
  if (beams !== undefined) Object.assign(c, { num_beams: beams, do_sample: false });
  const set = (k: keyof GenerationConfig, v: unknown): void => { if (v !== undefined) c[k] = v; };
  set('max_new_tokens', intOpt(opts, 'max-new-tokens', 1));
  set('max_length', intOpt(opts, 'max-length', 1));
  set('min_length', intOpt(opts, 'min-length', 0));
  set('min_new_tokens', intOpt(opts, 'min-new-tokens', 0));
  const es = opts['early-stopping'];
  if (es !== undefined) {
    const v = es === true || es === 'true' ? true : es === false || es === 'false' ? false : es === 'never' ? 'never' : undefined;
    if (v === undefined) throw new UsageError(`--early-stopping must be true, false or never, got ${String(es)}`);
    c['early_stopping'] = v;
  }
  set('temperature', numOpt(opts, 'temperature', (n) => Number.isFinite(n) && n > 0, 'a positive number'));
  set('top_k', intOpt(opts, 'top-k', 1));
  set('top_p', numOpt(opts, 'top-p', (n) => n > 0 && n <= 1, 'in (0, 1]'));
  set('repetition_penalty', numOpt(opts, 'repetition-penalty', (n) => Number.isFinite(n) && n > 0, 'a positive number'));
  set('encoder_repetition_penalty', numOpt(opts, 'encoder-repetition-penalty', (n) => Number.isFinite(n) && n > 0, 'a positive number'));
  set('length_penalty', numOpt(opts, 'length-penalty', Number.isFinite, 'a number'));
  set('no_repeat_ngram_size', intOpt(opts, 'no-repeat-ngram', 0));
  set('encoder_no_repeat_ngram_size', intOpt(opts, 'encoder-no-repeat-ngram', 0));
  const bad = opts['bad-words-ids'];
  if (bad !== undefined) {
    let v: unknown = bad;
    if (typeof bad === 'string')
      try { v = JSON.parse(bad); } catch { v = undefined; }
    if (!(Array.isArray(v) && v.length > 0 && v.every((w) => Array.isArray(w) && w.length > 0 && w.every((x) => Number.isInteger(x) && x >= 0))))
      throw new UsageError(`--bad-words-ids must be a JSON list of non-empty lists of token ids, e.g. [[5],[7,8]], got ${typeof bad === 'string' ? bad : JSON.stringify(bad)}`);
    c['bad_words_ids'] = v;
  }
  set('suppress_tokens', idsOpt(opts, 'suppress-tokens'));
  set('begin_suppress_tokens', idsOpt(opts, 'begin-suppress-tokens'));
  set('forced_bos_token_id', intOpt(opts, 'forced-bos-token-id', 0));
  set('forced_eos_token_id', idsOpt(opts, 'forced-eos-token-id'));
  set('eos_token_id', idsOpt(opts, 'eos-token-id'));
  set('pad_token_id', intOpt(opts, 'pad-token-id', 0));
  set('decoder_start_token_id', intOpt(opts, 'decoder-start-token-id', 0));
  set('num_return_sequences', intOpt(opts, 'num-return-sequences', 1));
  return c as GenerationConfig;
};

/** The model's defaults (`generationDefaults`' record, under option names) as a generation config. */
const modelLayer = (model: Readonly<Record<string, unknown>>): GenerationConfig => {
  const c: Record<string, unknown> = {};
  for (const [o, k] of OPTION_KEYS) if (model[o] !== undefined) c[k] = model[o];
  return c as GenerationConfig;
};

/**
 * The decoding settings: the user's options (the call layer) over the model's
 * `generationDefaults`, merged and resolved by core (`mergeGenerationConfigs`,
 * `resolveGeneration`: transformers' precedence and rules), over the command's `defaults` where
 * neither sets a value. An explicit mode (`--greedy`, `--beams N`, `--sample`) replaces the
 * model's; the model's sampling settings then apply only when sampling and its length penalty
 * and early stopping only with beams. A flag that does not apply to the chosen mode is a usage error.
 */
export const parseDecoding = (
  user: Readonly<Record<string, unknown>>,
  defaults: { beams: number; maxNewTokens: number },
  model: Readonly<Record<string, unknown>> = {},
): Decoding => {
  const modes = ['greedy', 'sample'].filter((m) => user[m] === true).concat(user['beams'] !== undefined ? ['beams'] : []);
  if (modes.length > 1) throw new UsageError(`choose one of --greedy, --beams N, --sample (got ${modes.map((m) => `--${m}`).join(' and ')})`);
  const call = callLayer(user);
  const file = modelLayer(model);
  const merged = mergeGenerationConfigs(call, file);
  if (merged.do_sample === true && call.do_sample === undefined && (merged.num_beams ?? 1) > 1)
    throw new UsageError(`the model's generation_config.json asks for beam sampling (do_sample with num_beams ${merged.num_beams}), which is not implemented: pass --greedy, --beams N or --sample`);
  if (merged.do_sample === true && merged.temperature === 0 && call.temperature === undefined)
    throw new UsageError("the model's generation_config.json has temperature 0 (greedy decoding), which cannot sample: pass --temperature T with --sample, or --greedy");
  const r = resolveGeneration(merged, { maxNewTokens: defaults.maxNewTokens, numBeams: defaults.beams });
  if (E.isLeft(r)) throw new UsageError(r.left);
  const o = r.right.options;
  const sample = o.doSample === true;
  const beams = o.numBeams ?? 1;
  for (const f of ['temperature', 'top-k', 'top-p'])
    if (user[f] !== undefined && !sample) throw new UsageError(`--${f} applies to --sample`);
  for (const f of ['length-penalty', 'early-stopping'])
    if (user[f] !== undefined && beams === 1) throw new UsageError(`--${f} applies to beam search (--beams N, N > 1)`);
  for (const w of r.right.warnings) process.stderr.write(`warning: ${w}\n`);
  const truncate = user['truncate'];
  if (truncate !== undefined && !['left', 'right', 'error'].includes(String(truncate))) throw new UsageError(`--truncate must be left, right or error, got ${String(truncate)}`);
  const perRun = intOpt(user, 'tokens-per-run', 1);
  const parsed: Decoding = {
    ...o,
    ...r.right.length,
    ...(r.right.decoderStartTokenId !== undefined ? { decoderStartTokenId: r.right.decoderStartTokenId } : {}),
    ...(truncate !== undefined ? { truncate: String(truncate) as 'left' | 'right' | 'error' } : {}),
    seed: intOpt(user, 'seed', 0) ?? 0,
    batchSize: intOpt(user, 'batch-size', 1) ?? 8,
    ...(perRun !== undefined && perRun > 1 ? { tokensPerRun: perRun } : {}),
  };
  if (parsed.tokensPerRun !== undefined && (beams > 1 || sample || hasLogitsProcessors(parsed)))
    throw new UsageError(
      '--tokens-per-run applies to plain greedy decoding: not with --beams, --sample, --no-repeat-ngram, --min-length or the other logits processors ' +
        "(a model whose generation_config.json sets no_repeat_ngram_size or num_beams needs --greedy --no-repeat-ngram 0)",
    );
  return parsed;
};

/**
 * The library's generator (hub's `generator`: prompt encoding per model family, the adapter,
 * whole or streamed results) with its notes on stderr, as `generate`, `eval` and `quickstart` print them.
 */
export const makeGenerator = async (backend: Backend, model: LoadedModel, adapter: LoadedAdapter | undefined): Promise<Generator> => {
  // a request the library cannot serve is the user's to fix: one line, exit 2
  const usage = (e: unknown): never => { throw e instanceof GenerationError ? new UsageError(e.message) : e; };
  const g = await generator({ backend, model, ...(adapter !== undefined ? { adapter } : {}), onNote: (line) => process.stderr.write(`note: ${line}\n`) }).catch(usage);
  return {
    run: (texts, o, onBatch) => g.run(texts, o, onBatch).catch(usage),
    async *stream(texts, o) {
      try {
        yield* g.stream(texts, o);
      } catch (e) {
        usage(e);
      }
    },
    dispose: () => g.dispose(),
  };
};

/**
 * One line of text per source (newlines folded), from the model with `adapter` (none: the model
 * itself), with progress on stderr: in place on a terminal, a line at every quarter in a log.
 */
export const generateLines = async (
  backend: Backend, model: LoadedModel, adapter: LoadedAdapter | undefined, sources: readonly string[], dec: Decoding,
  o: { readonly label: string; readonly quiet: boolean },
): Promise<string[]> => {
  const g = await makeGenerator(backend, model, adapter);
  const tty = process.stderr.isTTY === true;
  let shown = 0;
  try {
    const outs = await g.run(sources, dec, (done) => {
      if (o.quiet) return;
      if (tty) process.stderr.write(`\rgenerating (${o.label}) ${done}/${sources.length}\x1b[K`);
      else if (done === sources.length || done - shown >= Math.ceil(sources.length / 4)) {
        shown = done;
        process.stderr.write(`generating (${o.label}) ${done}/${sources.length}\n`);
      }
    });
    return outs.map((x) => x.text.replace(/\s*\n\s*/g, ' ').trim());
  } finally {
    await g.dispose();
    if (!o.quiet && tty) process.stderr.write('\r\x1b[K');
  }
};
