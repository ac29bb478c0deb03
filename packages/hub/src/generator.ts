/**
 * `generator(...)`: a model (+ an adapter) compiled once into a decoding session, turning texts
 * into generated texts, as whole results (`run`) or token by token (`stream`, an AsyncIterable).
 *
 * Prompt rule: with an adapter, a prompt is a task source and is encoded as in training
 * (`source ++ [EOS]`, the separator; `buildDecoderPrompt`); without one it is plain text,
 * encoded with the tokenizer's special tokens (Llama adds BOS itself); an empty prompt without
 * any token becomes [BOS] (or [EOS] when the model has no BOS: GPT-2's BOS and EOS are one).
 * An infix adapter's prompt is split as in training: the source goes before the infix, the
 * separator after it (the n-gram and length processors still see `source ++ [EOS]`).
 *
 * Encoder-decoder models (BART): the prompt is the encoder's source (with an adapter
 * `[BOS] source [EOS]` as in training, else the tokenizer's own special tokens); the decoder
 * starts from `decoder_start_token_id` and the forced first/last tokens of generation_config.json
 * (else config.json) apply, as in transformers' `generate`.
 *
 * Every row is decoded as it would be alone: its own new-token limit (the options' and its own
 * room under the model's positions), its own processors' context and sampling stream; so outputs
 * do not depend on `batchSize`. A prompt too long for the model is cut as `truncate` says and
 * reported through `onNote`.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  bartVirtualPositions, causalDecoder, generate, hasInfix, infixLength, newTokensFor, rowSeed, seq2seqDecoder, seq2seqGenerateOptions,
  virtualPrefixLength,
  type Backend, type BartConfig, type CausalLmConfig, type DecodeSession, type GenerateOptions, type HostTensor, type LoadedAdapter, type ModelConfig,
} from '@prefix-tuning/core';
import { buildDecoderPrompt, buildSeq2SeqExample } from '@prefix-tuning/tasks';
import type { LoadedModel } from './model.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { maxPositions, prependSpace, readGenerationConfig, specialIds, taskTokenizer, type SpecialIds } from './generation.ts';

/** A request generation cannot serve (a prompt that does not fit, ids outside the vocabulary, ...): one line, the caller's to fix. */
export class GenerationError extends Error {}

const orThrow = <A>(r: E.Either<string, A>): A => {
  if (E.isLeft(r)) throw new GenerationError(r.left);
  return r.right;
};

/** Decoding settings: core's search options, the length rule, and generation's own settings. */
export type Decoding = Omit<GenerateOptions, 'maxNewTokens' | 'onToken'> & {
  /** The new-token limit of every row (absent when `maxLength` is the rule). */
  readonly maxNewTokens?: number;
  /** transformers' `max_length`: counts the search's prompt of each row. */
  readonly maxLength?: number;
  readonly decoderStartTokenId?: number;
  /** A prompt too long for the model: drop its start (left), its end (right) or refuse it; default: the family's rule. */
  readonly truncate?: 'left' | 'right' | 'error';
  readonly seed: number;
  /** Prompts decoded together (the results do not depend on it). */
  readonly batchSize: number;
};

/** One generated sequence (`num_return_sequences` of them per prompt, consecutive). */
export interface Output {
  /** The prompt's index in the texts given to `run`. */
  readonly index: number;
  /** Which of the prompt's returned sequences (0 ≤ sequence < num_return_sequences). */
  readonly sequence: number;
  readonly prompt: readonly number[];
  readonly ids: number[];
  readonly text: string;
  readonly score: number;
  /** Tokens cut from the prompt to fit the model, and from which side (absent when it fit). */
  readonly truncated?: { readonly dropped: number; readonly side: 'left' | 'right' };
}

/** What `stream` yields: each sequence's text as it grows, then the sequence (its pieces and `rest` join to its `text`). */
export type StreamEvent =
  | { readonly type: 'token'; readonly index: number; readonly sequence: number; readonly token: number; readonly text: string }
  | { readonly type: 'done'; readonly output: Output; /** The end of the text not yielded yet. */ readonly rest: string };

/** An encoded prompt, cut to fit when it must be. */
interface Encoded {
  readonly ids: number[];
  readonly truncated?: { readonly dropped: number; readonly side: 'left' | 'right' };
}

/**
 * Cuts `p` to `room` tokens from `side`, keeping its first `head` and last `tail` tokens (BOS,
 * the separator or EOS the encoding added), as a tokenizer's truncation keeps special tokens.
 */
export const cutPrompt = (p: readonly number[], room: number, side: 'left' | 'right' | 'error', head: number, tail: number, what: string): Encoded => {
  if (p.length <= room) return { ids: [...p] };
  const keep = room - head - tail;
  if (side === 'error' || keep < 1)
    throw new GenerationError(`${what} has ${p.length} tokens and the model leaves room for ${room}${side === 'error' ? ' (--truncate left|right cuts it)' : ''}`);
  const body = p.slice(head, p.length - tail);
  const kept = side === 'left' ? body.slice(body.length - keep) : body.slice(0, keep);
  return { ids: [...p.slice(0, head), ...kept, ...p.slice(p.length - tail)], truncated: { dropped: p.length - room, side } };
};

/** Every id a tokenizer produced must exist in the model's embedding table (else tokenizer.json belongs to another model). */
export const checkIds = (ids: Iterable<number>, cfg: ModelConfig, tok: TextTokenizer, where: string): E.Either<string, void> => {
  let max = -1;
  for (const i of ids) if (i > max) max = i;
  return max >= cfg.vocab_size
    ? E.left(`${where}: the tokenizer produced id ${max}, but the model's vocabulary has ${cfg.vocab_size} entries (tokenizer vocabulary: ${tok.vocabSize}); tokenizer.json does not belong to this model`)
    : E.right(undefined);
};

/**
 * The ids of a tokenizer's `<0xNN>` byte tokens (SentencePiece byte fallback): the text of a run
 * of them is decided only when the run ends (valid UTF-8, or one U+FFFD per byte).
 */
export const byteTokenIds = (tok: Pick<TextTokenizer, 'tokenToId'>): ReadonlySet<number> => {
  const ids = new Set<number>();
  for (let b = 0; b < 256; b++) {
    const id = tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    if (id !== undefined) ids.add(id);
  }
  return ids;
};

/**
 * The text of a growing token sequence, in pieces that join to `decode(all)` (trimmed when
 * `trim`): a piece ends before the last whitespace, so that a later token can still change what
 * follows it (an incomplete UTF-8 character, the tokenizer's clean-up of " ." or " 's"), and
 * nothing is given while the last visible token is one of `pending` (byte-fallback tokens,
 * whose run decodes as a whole).
 */
export const textPieces = (decode: (ids: readonly number[]) => string, trim: boolean, pending: ReadonlySet<number> = new Set()) => {
  const ids: number[] = [];
  let sent = 0;
  let held = false; // a byte run may still go on (a token that decodes to nothing, e.g. a skipped special one, does not end it)
  return {
    push(id: number): string {
      ids.push(id);
      if (pending.has(id)) held = true;
      else if (held && decode([id]) !== '') held = false;
      if (held) return '';
      const t = trim ? decode(ids).trimStart() : decode(ids);
      const m = /\s+\S*$/u.exec(t);
      const upto = m === null ? 0 : m.index;
      if (upto <= sent) return '';
      const piece = t.slice(sent, upto);
      sent = upto;
      return piece;
    },
    /** The rest, once the sequence is complete. */
    end(): string {
      return (trim ? decode(ids).trim() : decode(ids)).slice(sent);
    },
  };
};

/**
 * A model family's part of generation: how a text becomes the ids the session starts from, how
 * many new tokens the model's positions leave a row, and the session itself (with the prompts
 * the search sees and the options the config implies).
 */
interface Engine {
  /** `index`: the prompt's, for messages; `side`: `truncate` (default: the family's rule). */
  encode(text: string, index: number, side: 'left' | 'right' | 'error' | undefined): Encoded;
  /** The prompt the search sees for `prompt` (the decoder-only prompt itself; BART's decoder start). */
  seen(prompt: readonly number[], decoderStart: number | undefined): readonly number[];
  /** New tokens the learned positions leave after `prompt` (the adapter's share included). */
  room(prompt: readonly number[]): number;
  /** Why generation is limited, for the note. */
  readonly limit: string;
  /** `rows`: rows per prompt (beams or returned samples); `reserve`: tokens to be generated (the decoder-only cache is sized for them up front). */
  start(prompts: readonly (readonly number[])[], rows: number, reserve: number, decoderStart: number | undefined): Promise<DecodeSession>;
  /** Options the model's config implies (BART's forced first and last tokens). */
  readonly options: Partial<GenerateOptions>;
  /** The encoder's input of each prompt (BART's source; undefined: the prompt itself). */
  readonly encoderInput: boolean;
  dispose(): Promise<void>;
}

interface EngineArgs<C> {
  readonly backend: Backend;
  readonly cfg: C;
  readonly model: LoadedModel;
  readonly ids: SpecialIds;
  readonly adapter: LoadedAdapter | undefined;
  readonly params: Record<string, HostTensor>;
}

/** Whether the tokenizer adds `id` at the start (end) of every encoding (Llama's BOS; BART's <s> … </s>). */
const adds = (model: LoadedModel, id: number | undefined, at: 'start' | 'end'): boolean => {
  if (id === undefined) return false;
  const e = model.tokenizer.encode('a');
  return e.length > 0 && (at === 'start' ? e[0] === id : e[e.length - 1] === id);
};

/** Decoder-only models: the prompt is the start of the sequence (an infix adapter's source goes to the session apart). */
const causalEngine = async ({ backend, cfg, model, ids, adapter, params }: EngineArgs<CausalLmConfig>): Promise<Engine> => {
  const inj = adapter?.injection;
  // an infix adapter reads [source; INFIX; separator …]: the source goes to the session apart
  const infix = inj !== undefined && hasInfix(inj);
  const virtual = inj ? virtualPrefixLength(cfg, inj) + infixLength(inj) : 0;
  const positions = maxPositions(cfg);
  const tok = adapter ? orThrow(taskTokenizer(model)) : undefined;
  const decoder = await causalDecoder(backend, cfg, params, inj);
  const addsBos = adds(model, ids.bos, 'start');
  return {
    encode(text, index, side) {
      const room = positions - virtual - 1;
      if (room < 1) throw new GenerationError(`the model has ${positions} positions and the adapter takes ${virtual}: no room for a prompt`);
      let e: Encoded;
      // a task source is cut at its end, as in training (the separator kept); a plain prompt at its
      // start, keeping the end where generation continues (and the BOS the tokenizer adds)
      if (tok) e = cutPrompt(buildDecoderPrompt(tok, { prependSpace: prependSpace(cfg) })(text), room, side ?? 'right', 0, 1, `prompt ${index + 1}`);
      else {
        let p = model.tokenizer.encode(text);
        if (p.length === 0) p = [ids.bos ?? ids.eos[0] ?? 0];
        e = cutPrompt(p, room, side ?? 'left', addsBos && p[0] === ids.bos ? 1 : 0, 0, `prompt ${index + 1}`);
      }
      orThrow(checkIds(e.ids, cfg, model.tokenizer, 'prompt'));
      return e;
    },
    seen: (p) => p,
    room: (p) => positions - virtual - p.length,
    limit: `the model's ${positions} positions${virtual > 0 ? ` (${virtual} taken by the adapter)` : ''}`,
    async start(prompts, rows, reserve) {
      const padId = ids.pad ?? ids.eos[0] ?? 0;
      return decoder.start(
        infix ? prompts.map((p) => p.slice(-1)) : prompts,
        { beams: rows, padId, reserve, ...(infix ? { sources: prompts.map((p) => p.slice(0, -1)) } : {}) },
      );
    },
    options: {},
    encoderInput: false,
    dispose: () => decoder.dispose(),
  };
};

/**
 * Encoder-decoder models (BART): the prompt is the encoder's source (with an adapter, encoded as
 * in training: `[BOS] source [EOS]`; `buildSeq2SeqExample`); the decoder starts from
 * `decoder_start_token_id`, and the config's forced first/last tokens apply, as transformers'
 * `generate` does.
 */
const seq2seqEngine = async ({ backend, cfg, model, ids, adapter, params }: EngineArgs<BartConfig>): Promise<Engine> => {
  const inj = adapter?.injection;
  const virtual = inj ? bartVirtualPositions(inj) : { source: 0, target: 0 };
  const positions = maxPositions(cfg);
  const tok = adapter ? orThrow(taskTokenizer(model)) : undefined;
  const decoder = await seq2seqDecoder(backend, cfg, params, inj);
  const fromConfig = seq2seqGenerateOptions(cfg);
  const [head, tail] = [adds(model, ids.bos, 'start') ? 1 : 0, adds(model, ids.eos[0], 'end') ? 1 : 0];
  return {
    /** Source ids, cut to the encoder's positions (by default the beginning kept, as in training). */
    encode(text, index, side) {
      const room = positions - virtual.source;
      if (room < 2) throw new GenerationError(`the model has ${positions} positions and the adapter takes ${virtual.source} of the encoder's: no room for a source`);
      let e: Encoded;
      if (tok) {
        const p = buildSeq2SeqExample(tok, { prependSpace: prependSpace(cfg) })({ source: text, target: '' }).inputIds;
        e = cutPrompt(p, room, side ?? 'right', tok.bosId !== undefined ? 1 : 0, 1, `source ${index + 1}`);
      } else {
        let p = model.tokenizer.encode(text);
        if (p.length === 0) p = [...(ids.bos !== undefined ? [ids.bos] : []), ids.eos[0] ?? 0];
        e = cutPrompt(p, room, side ?? 'right', head && p[0] === ids.bos ? 1 : 0, tail && ids.eos.includes(p[p.length - 1]!) ? 1 : 0, `source ${index + 1}`);
      }
      orThrow(checkIds(e.ids, cfg, model.tokenizer, 'source'));
      return e;
    },
    seen: (_p, start) => (start !== undefined ? [start] : decoder.decoderPrompt),
    room: () => positions - virtual.target,
    limit: `the decoder's ${positions} positions${virtual.target > 0 ? ` (${virtual.target} taken by the adapter)` : ''}`,
    start: (prompts, rows, _reserve, start) =>
      decoder.start(prompts, { beams: rows, padId: ids.pad ?? cfg.pad_token_id ?? 1, ...(start !== undefined ? { decoderStartTokenId: start } : {}) }),
    options: {
      ...(ids.forcedBos !== undefined ? { forcedBosTokenId: ids.forcedBos } : fromConfig.forcedBosTokenId !== undefined ? { forcedBosTokenId: fromConfig.forcedBosTokenId } : {}),
      ...(ids.forcedEos !== undefined ? { forcedEosTokenIds: ids.forcedEos } : fromConfig.forcedEosTokenIds !== undefined ? { forcedEosTokenIds: fromConfig.forcedEosTokenIds } : {}),
    },
    encoderInput: true,
    dispose: () => decoder.dispose(),
  };
};

/** The engine of each model family (a new model_type without one does not compile). */
const ENGINES: { readonly [K in ModelConfig['model_type']]: (a: EngineArgs<Extract<ModelConfig, { model_type: K }>>) => Promise<Engine> } = {
  gpt2: causalEngine,
  llama: causalEngine,
  bart: seq2seqEngine,
};
const engineFor = (a: EngineArgs<ModelConfig>): Promise<Engine> =>
  (ENGINES[a.cfg.model_type] as (a: EngineArgs<ModelConfig>) => Promise<Engine>)(a);

/** The generation_config.json's `decoder_start_token_id` (transformers' first choice), when the file sets it. */
const fileDecoderStart = (dir: string): number | undefined => {
  const r = readGenerationConfig(dir);
  const v = E.isRight(r) ? r.right['decoder_start_token_id'] : undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
};

/** At most this many notes of each kind per call (then one line says how many more). */
const MAX_NOTES = 5;

export interface GeneratorOptions {
  readonly backend: Backend;
  readonly model: LoadedModel;
  /** Its prefix (or other variant) steers generation; prompts are then task sources. */
  readonly adapter?: LoadedAdapter;
  /** Prompts cut to fit or rows limited by the model's positions (default: ignored). */
  readonly onNote?: (line: string) => void;
}

export interface Generator {
  /** Every output of `texts`, in order (`num_return_sequences` per prompt, consecutive). `onBatch`: prompts done so far. */
  run(texts: readonly string[], decoding: Decoding, onBatch?: (done: number) => void): Promise<Output[]>;
  /**
   * The same outputs token by token: `token` events as each row grows (greedy and sampling; beam
   * search's come when its batch ends), then a `done` event per sequence, equal to `run`'s.
   */
  stream(texts: readonly string[], decoding: Decoding): AsyncIterable<StreamEvent>;
  dispose(): Promise<void>;
}

/** Compiles `model` (+ `adapter`) for generation; throws `GenerationError` on prompts it cannot serve. */
export const generator = async ({ backend, model, adapter, onNote }: GeneratorOptions): Promise<Generator> => {
  const params: Record<string, HostTensor> = { ...model.params, ...(adapter?.params ?? {}) };
  const ids = orThrow(specialIds(model));
  const engine = await engineFor({ backend, cfg: model.config, model, ids, adapter, params });
  const trim = adapter !== undefined;
  const fileStart = fileDecoderStart(model.dir);
  const decodeText = (xs: readonly number[]) => model.tokenizer.decode([...xs], { skipSpecialTokens: true });
  const byteIds = byteTokenIds(model.tokenizer);

  const decodeAll = async (texts: readonly string[], o: Decoding, emit: (e: StreamEvent) => void, onBatch?: (done: number) => void, stopped?: () => boolean): Promise<void> => {
    const { batchSize: _b, maxNewTokens: _m, maxLength, decoderStartTokenId, truncate, ...g } = o;
    // the caller's ids over the model's (generation_config.json, config.json, the tokenizer)
    const eos = g.eosTokenIds ?? ids.eos;
    const pad = g.padTokenId ?? ids.pad;
    const start = decoderStartTokenId ?? fileStart;
    const nRet = g.numReturnSequences ?? 1;
    const beams = g.numBeams ?? 1;
    const rows = beams > 1 ? beams : nRet; // sampling: each returned sequence is a row of its own
    const length = maxLength !== undefined ? { maxLength } : { maxNewTokens: o.maxNewTokens ?? 1 };
    const notes = { limited: 0, truncated: 0 };
    const note = (kind: keyof typeof notes, line: string): void => {
      if (++notes[kind] <= MAX_NOTES) onNote?.(line);
    };
    for (let i = 0; i < texts.length && !(stopped?.() ?? false); i += o.batchSize) {
      const batch = texts.slice(i, i + o.batchSize).map((t, j) => {
        const e = engine.encode(t, i + j, truncate);
        if (e.truncated) note('truncated', `prompt ${i + j + 1}: ${e.truncated.dropped} tokens dropped from the ${e.truncated.side} to fit ${engine.limit}`);
        return e;
      });
      const prompts = batch.map((e) => e.ids);
      const seen = prompts.map((p) => engine.seen(p, start));
      // each row's own limit: the options' (max_length counts the row's own search prompt) and its room
      const limits = prompts.map((p, j) => {
        const want = newTokensFor({ length }, seen[j]!.length);
        if (want < 1) throw new GenerationError(`prompt ${i + j + 1}: its ${seen[j]!.length} tokens leave no room under --max-length ${maxLength} (transformers refuses it too): raise --max-length or pass --max-new-tokens`);
        const room = engine.room(p);
        if (room < want) note('limited', `prompt ${i + j + 1}: generation limited to ${room} new tokens by ${engine.limit}`);
        return Math.min(want, room);
      });
      const session = await engine.start(prompts, rows, Math.max(...limits), start);
      const expand = <T,>(xs: readonly T[]): T[] => (beams > 1 ? [...xs] : xs.flatMap((x) => Array<T>(rows).fill(x)));
      // streaming: session row q is prompt q / nRet's sequence q % nRet (greedy and sampling; beams stream at the end)
      const pieces = new Map<number, ReturnType<typeof textPieces>>();
      const ended = new Set<number>();
      const piece = (q: number, token: number): void => {
        if (ended.has(q)) return;
        if (eos.includes(token)) { ended.add(q); return; }
        let p = pieces.get(q);
        if (p === undefined) pieces.set(q, (p = textPieces(decodeText, trim, byteIds)));
        const text = p.push(token);
        emit({ type: 'token', index: i + Math.floor(q / nRet), sequence: q % nRet, token, text });
      };
      const r = await generate(session, expand(seen), {
        ...engine.options, ...g,
        maxNewTokens: expand(limits), eosTokenIds: eos, ...(pad !== undefined ? { padTokenId: pad } : {}),
        ...(engine.encoderInput ? { encoderInputIds: expand(prompts) } : {}),
        // each sampled row its own stream, from the seed and the row's place in the whole input
        ...(g.doSample ? { rowSeeds: prompts.flatMap((_, j) => Array.from({ length: rows }, (_, k) => rowSeed(o.seed, (i + j) * rows + k))) } : {}),
        onToken: piece,
      });
      batch.forEach((e, j) => {
        for (let k = 0; k < nRet; k++) {
          const q = j * nRet + k;
          const all = r.tokens[q]!;
          const stop = all.findIndex((t) => eos.includes(t)); // the first EOS ends the text (fillers may follow it)
          const seq = stop < 0 ? all : all.slice(0, stop + 1);
          const body = stop < 0 ? all : all.slice(0, stop);
          if (!pieces.has(q) && !ended.has(q)) for (const t of seq) piece(q, t); // beam search: its tokens now
          const text = decodeText(body);
          const rest = pieces.get(q)?.end() ?? '';
          emit({ type: 'done', rest, output: { index: i + j, sequence: k, prompt: e.ids, ids: seq, text: trim ? text.trim() : text, score: r.scores[q]!, ...(e.truncated ? { truncated: e.truncated } : {}) } });
        }
      });
      onBatch?.(Math.min(texts.length, i + o.batchSize));
    }
    for (const k of ['limited', 'truncated'] as const)
      if (notes[k] > MAX_NOTES) onNote?.(`${notes[k] - MAX_NOTES} more prompts ${k === 'limited' ? 'limited by the model\'s positions' : 'truncated'}`);
  };

  return {
    async run(texts, o, onBatch) {
      const outs: Output[] = [];
      await decodeAll(texts, o, (e) => { if (e.type === 'done') outs.push(e.output); }, onBatch);
      return outs;
    },
    async *stream(texts, o) {
      const queue: StreamEvent[] = [];
      let wake: (() => void) | undefined;
      let finished = false;
      let failure: { error: unknown } | undefined;
      let stop = false;
      const signal = () => { const w = wake; wake = undefined; w?.(); };
      void decodeAll(texts, o, (e) => { queue.push(e); signal(); }, undefined, () => stop)
        .then(() => { finished = true; signal(); }, (error: unknown) => { failure = { error }; finished = true; signal(); });
      try {
        for (;;) {
          while (queue.length > 0) yield queue.shift()!;
          if (finished) {
            if (failure !== undefined) throw failure.error;
            return;
          }
          await new Promise<void>((r) => { wake = r; });
        }
      } finally {
        stop = true; // a consumer that leaves early: no further batch starts
      }
    },
    dispose: () => engine.dispose(),
  };
};
