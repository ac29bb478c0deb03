/**
 * The serving engine: one frozen model compiled once into a `continuousDecoder`, the adapter
 * registry, and the loop that steps the shared batch while any row runs or waits. A request's
 * sequences (prompts × n) join the batch as rows; each token is turned into text incrementally
 * (stop strings cut the text and end the row; text that could still become a stop string, or
 * half a UTF-8 character, is held back), so a streamed response and a collected one are the
 * same text. Beam search (`num_beams` > 1) runs as its own search over the same executables,
 * beside the batch, and delivers its text when it ends.
 *
 * Decoding settings: the request's (`callLayer`: an explicit mode, greedy for temperature 0,
 * beams for `num_beams` > 1, else sampling) over the model's generation config (hub's
 * `modelGenerationConfig`), merged and resolved by core's `mergeGenerationConfigs` and
 * `resolveGeneration`, exactly as `prefix-tune generate` merges its flags: the model's
 * processors (no-repeat n-grams, repetition penalty, min length, …) apply to every request.
 * Without `max_tokens` a row gets the model's limit (`max_new_tokens`, `max_length`; else 16)
 * cut to the room its positions leave; with it, a prompt without that room is refused.
 *
 * Prompts: for an adapter, a prompt is a task source encoded as in training (source ++ EOS, as
 * `prefix-tune generate --adapter` does) and the text is trimmed, as the CLI prints it; for the
 * base model a prompt is plain text (the tokenizer's special tokens; an empty prompt is BOS).
 * A prompt that leaves no room in the model's positions (less the adapter's prefix) is refused.
 */
import { randomInt } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { beamSearch } from '@prefix-tuning/core/decode';
import {
  continuousDecoder, isEncoderDecoder, mergeGenerationConfigs, newTokensFor, resolveGeneration, rowSeed, virtualPrefixLength, type Backend, type CausalLmConfig, type ContinuousDecoder, type GenerateOptions, type GenerationConfig
} from '@prefix-tuning/core';
import { GENERATION_ID_KEYS, maxPositions, modelGenerationConfig, prependSpace, specialIds, taskTokenizer, type LoadedModel, type SpecialIds } from '@prefix-tuning/hub';
import { buildDecoderPrompt } from '@prefix-tuning/tasks';
import { badRequest, type ApiError } from './errors.ts';
import { makeRegistry, type Registry, type Resident } from './registry.ts';

export interface EngineOptions {
  /** Rows decoded together at most (running sequences). */
  readonly maxRunning: number;
  /** Rows waiting to join at most; beyond it requests get 429. */
  readonly maxQueue: number;
  readonly maxResidentAdapters: number;
  /** The adapter folder (one subfolder per id). */
  readonly adapters: string;
  /** New tokens a row may get at most (a model default above it is cut to it). */
  readonly maxTokensCap: number;
  /** Told once for each key of the model's generation config that is not implemented. */
  readonly warn?: (line: string) => void;
}

/** New tokens when neither the request nor the model's generation config says (OpenAI's default). */
export const DEFAULT_MAX_TOKENS = 16;

/** Decoding settings of one request (already validated). */
export interface Sampling {
  /** `max_tokens` (undefined: the model's limit, else `DEFAULT_MAX_TOKENS`, within the room). */
  readonly maxTokens?: number;
  /** 0: greedy; undefined: sampling at the model's temperature (else 1). */
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  readonly stop: readonly string[];
  /** Beam search with this many beams (1: none). */
  readonly numBeams: number;
  readonly lengthPenalty?: number;
  /** Top log-probabilities per token to report (undefined: none). */
  readonly logprobs?: number;
}

/** One piece of a sequence's text, with the tokens it came from. */
export interface Delta {
  readonly text: string;
  readonly tokens: readonly { readonly id: number; readonly text: string; readonly logprob: number; readonly top?: Readonly<Record<string, number>> }[];
}

/** A finished sequence. */
export interface Finished {
  readonly text: string;
  readonly finishReason: 'stop' | 'length';
  readonly completionTokens: number;
  /** The generated ids (a final EOS included). */
  readonly tokenIds: readonly number[];
  /** The row left early: its client went away or its deadline passed. */
  readonly cancelled?: boolean;
}

/** A prompt ready to decode: its ids and its row's resolved options (its own new-token limit). */
export interface Prepared {
  readonly ids: readonly number[];
  readonly options: GenerateOptions & { readonly maxNewTokens: number };
}

/** A request's decoding settings as a generation config: the call layer, merged over the model's. */
export const callLayer = (s: Sampling): GenerationConfig => ({
  ...(s.maxTokens !== undefined ? { max_new_tokens: s.maxTokens } : {}),
  ...(s.numBeams > 1
    ? { num_beams: s.numBeams, do_sample: false, ...(s.lengthPenalty !== undefined ? { length_penalty: s.lengthPenalty } : {}) }
    : s.temperature === 0
      ? { num_beams: 1, do_sample: false }
      : { num_beams: 1, do_sample: true, ...(s.temperature !== undefined ? { temperature: s.temperature } : {}), ...(s.topP !== undefined ? { top_p: s.topP } : {}) }),
});

/** The text of a sequence so far, emitted in safe pieces. */
class TextTracker {
  private ids: number[] = [];
  private emitted = 0;
  private pending: Delta['tokens'][number][] = [];
  done?: { text: string };
  constructor(
    private readonly decode: (ids: readonly number[]) => string,
    private readonly stops: readonly string[],
    private readonly trim: boolean,
  ) {}

  private full(): string {
    const t = this.decode(this.ids);
    return this.trim ? t.trimStart() : t;
  }

  /** Adds a token (EOS excluded by the caller); returns the delta that is safe to emit and whether a stop string was hit. */
  push(tok: Delta['tokens'][number]): { delta?: Delta; stopped: boolean } {
    this.ids.push(tok.id);
    this.pending.push(tok);
    const text = this.full();
    let cut = -1;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const final = this.trim ? text.slice(0, cut).trimEnd() : text.slice(0, cut);
      this.done = { text: final };
      return { delta: this.take(final, final.length), stopped: true };
    }
    // hold back: half a character, the start of a stop string, (task outputs) trailing spaces
    let safe = text.length;
    while (safe > 0 && text.charCodeAt(safe - 1) === 0xfffd) safe--;
    for (const s of this.stops)
      for (let k = Math.min(s.length - 1, safe); k > 0; k--)
        if (text.slice(safe - k, safe) === s.slice(0, k)) { safe -= k; break; }
    if (this.trim) while (safe > 0 && /\s/.test(text[safe - 1]!)) safe--;
    return { delta: this.take(text, safe), stopped: false };
  }

  /** The sequence ended (EOS or a limit): everything left, and the final text. */
  end(): { delta?: Delta; text: string } {
    if (this.done) return { text: this.done.text };
    const t = this.full();
    const text = this.trim ? t.trimEnd() : t;
    this.done = { text };
    return { delta: this.take(text, text.length), text };
  }

  private take(text: string, upTo: number): Delta | undefined {
    if (upTo <= this.emitted && this.pending.length === 0) return undefined;
    if (upTo < this.emitted) upTo = this.emitted;
    const d: Delta = { text: text.slice(this.emitted, upTo), tokens: this.pending };
    if (d.text === '' && upTo < text.length) return undefined; // nothing safe yet: keep the tokens for the next piece
    this.emitted = upTo;
    this.pending = [];
    return d;
  }
}

export interface Engine {
  readonly baseId: string;
  readonly registry: Registry;
  readonly decoder: ContinuousDecoder;
  /** The adapter (pinned until `release`) of a model name; the base model needs none. */
  model(name: string): Promise<E.Either<ApiError, { readonly adapter?: Resident; release(): void }>>;
  /** Encodes a prompt (text or ids) for an adapter or the base model with its row's options, or says why it cannot run. */
  prepare(prompt: string | readonly number[], adapter: Resident | undefined, s: Sampling, param: string): E.Either<ApiError, Prepared>;
  /**
   * Decodes one sequence: `onDelta` receives its text in pieces; resolves when it ends.
   * `signal` aborts it (the row leaves at the next step; resolves with the text so far).
   */
  generate(p: Prepared, adapter: Resident | undefined, s: Sampling, row: number, onDelta: (d: Delta) => void, signal: AbortSignal): Promise<Finished>;
  /** Beam search: `n` best sequences (n <= numBeams). */
  beams(p: Prepared, adapter: Resident | undefined, s: Sampling, n: number, signal: AbortSignal): Promise<Finished[]>;
  /** Rows that can still be queued now. */
  queueRoom(): number;
  readonly running: number;
  readonly waiting: number;
  /** Cancels every sequence (shutdown past its deadline). */
  cancelAll(): void;
  /** Resolves when no sequence runs or waits. */
  idle(): Promise<void>;
  dispose(): Promise<void>;
}

/** Builds the engine for a decoder-only model (`baseId`: the name clients use for the base model). */
export const makeEngine = async (backend: Backend, model: LoadedModel, baseId: string, opts: EngineOptions): Promise<E.Either<string, Engine>> => {
  if (isEncoderDecoder(model.config)) return E.left('the server runs decoder-only models (GPT-2, Llama); encoder-decoder models (BART) are not served yet');
  const cfg = model.config as CausalLmConfig;
  const idsE = specialIds(model);
  if (E.isLeft(idsE)) return idsE;
  const ids: SpecialIds = idsE.right;
  const genE = modelGenerationConfig(model.dir);
  if (E.isLeft(genE)) return genE;
  if (genE.right.unsupported.length > 0) opts.warn?.(`${genE.right.file}: not implemented, ignored: ${genE.right.unsupported.join(', ')}`);
  // the model's decoding defaults; its special ids are specialIds' (as the CLI reads them)
  const modelLayer = Object.fromEntries(Object.entries(genE.right.config).filter(([k]) => !GENERATION_ID_KEYS.has(k))) as GenerationConfig;
  const pad = ids.pad ?? ids.eos[0] ?? 0;
  const tokE = taskTokenizer(model);
  const decoder = await continuousDecoder(backend, cfg, model.params, { maxRows: opts.maxRunning, padId: ids.pad ?? ids.eos[0] ?? 0 });
  const registry = makeRegistry({ root: opts.adapters, config: cfg, decoder, maxResident: opts.maxResidentAdapters, virtualOf: (inj) => virtualPrefixLength(cfg, inj),
    base: { params: model.params, names: [model.dir] }, ...(opts.warn !== undefined ? { warn: opts.warn } : {}) });
  const positions = maxPositions(cfg);
  const decodeText = (xs: readonly number[]) => model.tokenizer.decode(xs, { skipSpecialTokens: true });
  const tokenText = (id: number) => model.tokenizer.decode([id], { skipSpecialTokens: false });
  const cancels = new Set<() => void>();
  let beamsRunning = 0;
  let beamRows = 0;
  const beamWaiters: (() => void)[] = [];
  const idleWaiters: (() => void)[] = [];
  let looping = false;

  const checkIdle = () => {
    if (decoder.running + decoder.waiting + beamsRunning === 0) for (const w of idleWaiters.splice(0)) w();
  };
  const loop = async (): Promise<void> => {
    if (looping) return;
    looping = true;
    try {
      // one step at a time; between steps the event loop admits requests and notices disconnects
      while ((await decoder.step()) > 0) await new Promise((r) => setImmediate(r));
    } finally {
      looping = false;
      checkIdle();
    }
  };


  const tops = (lp: Float64Array, k: number): Record<string, number> => {
    const idx = Array.from({ length: lp.length }, (_, i) => i).sort((a, b) => lp[b]! - lp[a]!).slice(0, k);
    return Object.fromEntries(idx.map((i) => [tokenText(i), lp[i]!]));
  };

  const engine: Engine = {
    baseId, registry, decoder,
    async model(name) {
      if (name === baseId) return E.right({ release: () => {} });
      const r = await registry.acquire(name);
      return E.isLeft(r) ? r : E.right({ adapter: r.right.adapter, release: r.right.release });
    },
    prepare(prompt, adapter, s, param) {
      const virtual = adapter?.virtual ?? 0;
      let p: readonly number[];
      if (typeof prompt !== 'string') {
        if (prompt.some((t) => !Number.isInteger(t) || t < 0 || t >= cfg.vocab_size)) return E.left(badRequest(`${param}: token ids must be integers in [0, ${cfg.vocab_size})`, param));
        p = prompt.length > 0 ? prompt : [ids.bos ?? ids.eos[0] ?? 0];
      } else if (adapter) {
        if (E.isLeft(tokE)) return E.left(badRequest(tokE.left, param));
        p = buildDecoderPrompt(tokE.right, { prependSpace: prependSpace(cfg) })(prompt);
      } else {
        p = model.tokenizer.encode(prompt);
        if (p.length === 0) p = [ids.bos ?? ids.eos[0] ?? 0];
      }
      if (p.some((t) => t >= cfg.vocab_size)) return E.left(badRequest(`${param}: the tokenizer produced an id outside the model's vocabulary of ${cfg.vocab_size}`, param));
      const r = resolveGeneration(mergeGenerationConfigs(callLayer(s), modelLayer), { maxNewTokens: DEFAULT_MAX_TOKENS });
      if (E.isLeft(r)) return E.left(badRequest(`the request with the model's generation config: ${r.left}`, null, 'invalid_generation'));
      const want = newTokensFor(r.right, p.length);
      const room = positions - virtual - p.length;
      if (want < 1) return E.left(badRequest(`${param}: its ${p.length} tokens leave no room under the model's max_length (generation_config.json): give max_tokens`, param, 'context_length_exceeded'));
      if (room < 1 || (s.maxTokens !== undefined && s.maxTokens > room))
        return E.left(badRequest(
          `This model's maximum context length is ${positions} tokens${virtual > 0 ? `, ${virtual} of them taken by the adapter's prefix` : ''}. ` +
            `However, you requested ${virtual + p.length + (s.maxTokens ?? 1)} tokens (${p.length} in the prompt, ${s.maxTokens ?? 1} for the completion). Please reduce your prompt or max_tokens.`,
          param, 'context_length_exceeded'));
      const limit = Math.min(want, room, opts.maxTokensCap);
      return E.right({ ids: p, options: { ...r.right.options, maxNewTokens: limit, eosTokenIds: r.right.options.eosTokenIds ?? ids.eos, padTokenId: r.right.options.padTokenId ?? pad } });
    },
    generate(prep, adapter, s, rowIndex, onDelta, signal) {
      return new Promise<Finished>((resolve, reject) => {
        const tracker = new TextTracker(decodeText, s.stop, adapter !== undefined);
        const produced: number[] = [];
        let cancelled = signal.aborted;
        const cancel = () => { cancelled = true; };
        signal.addEventListener('abort', cancel);
        cancels.add(cancel);
        const emit = (d: Delta | undefined) => { if (d && (d.text !== '' || d.tokens.length > 0)) onDelta(d); };
        const { numBeams: _b, tokensPerRun: _t, numReturnSequences: _n, ...o } = prep.options;
        decoder.add({
          prompt: prep.ids,
          ...(adapter ? { prefix: { bank: adapter.bank, slot: adapter.slot } } : {}),
          // each sampled row its own stream: the request's seed (else a random one) and the row's place, as generate --seed draws them
          options: o.doSample ? { ...o, seed: rowSeed(s.seed ?? randomInt(2 ** 31), rowIndex) } : o,
          cancelled: () => cancelled,
          onToken: (id, logprob, lps) => {
            produced.push(id);
            if ((o.eosTokenIds ?? ids.eos).includes(id)) return false; // EOS ends the row; its text is not part of the completion
            const r = tracker.push({ id, text: tokenText(id), logprob: s.logprobs !== undefined ? logprob() : 0, ...(s.logprobs !== undefined && s.logprobs > 0 ? { top: tops(lps(), s.logprobs) } : {}) });
            emit(r.delta);
            return r.stopped;
          },
          onDone: (reason, error) => {
            signal.removeEventListener('abort', cancel);
            cancels.delete(cancel);
            if (error) { reject(error); return; }
            const hitStop = tracker.done !== undefined;
            const end = tracker.end();
            emit(end.delta);
            resolve({ text: end.text, finishReason: reason === 'length' && !hitStop ? 'length' : 'stop', completionTokens: produced.length, tokenIds: produced, ...(reason === 'cancelled' ? { cancelled: true } : {}) });
          },
        });
        void loop();
      });
    },
    async beams(prep, adapter, s, n, signal) {
      const o = prep.options;
      const K = o.numBeams ?? s.numBeams;
      let cancelled = false;
      const cancel = () => { cancelled = true; };
      cancels.add(cancel);
      beamsRunning++;
      try {
        // beam searches together hold at most --max-running rows (one search alone may hold more)
        while (beamRows > 0 && beamRows + K > opts.maxRunning && !signal.aborted && !cancelled) await new Promise<void>((r) => beamWaiters.push(r));
        if (signal.aborted || cancelled) return [];
        beamRows += K;
        let r;
        try {
          const session = await decoder.session([prep.ids], { beams: K, ...(adapter ? { prefix: { bank: adapter.bank, slot: adapter.slot } } : {}), padId: pad });
          // a client that went away (or a shutdown past its deadline) stops the search at its next step
          const guarded = { ...session, advance: (p: Int32Array, t: Int32Array) => { if (signal.aborted || cancelled) throw new Error('cancelled'); return session.advance(p, t); } };
          r = await beamSearch(guarded, [prep.ids], { ...o, numReturnSequences: n });
        } catch (e) {
          if (signal.aborted || cancelled) return [];
          throw e;
        } finally {
          beamRows -= K;
          for (const w of beamWaiters.splice(0)) w();
        }
        return r.tokens.map((toks) => {
          const stopAt = toks.findIndex((t) => (o.eosTokenIds ?? ids.eos).includes(t));
          const body = stopAt < 0 ? toks : toks.slice(0, stopAt);
          const tracker = new TextTracker(decodeText, s.stop, adapter !== undefined);
          let stopped = false;
          for (const id of body) if ((stopped = tracker.push({ id, text: tokenText(id), logprob: 0 }).stopped)) break;
          const end = tracker.end();
          return { text: end.text, finishReason: stopped || stopAt >= 0 ? 'stop' : 'length', completionTokens: stopAt < 0 ? toks.length : stopAt + 1, tokenIds: stopAt < 0 ? toks : toks.slice(0, stopAt + 1) };
        });
      } finally {
        cancels.delete(cancel);
        beamsRunning--;
        checkIdle();
      }
    },
    queueRoom: () => opts.maxQueue - decoder.waiting,
    get running() { return decoder.running + beamsRunning; },
    get waiting() { return decoder.waiting; },
    cancelAll() {
      for (const c of cancels) c();
      for (const w of beamWaiters.splice(0)) w();
    },
    idle: () => new Promise<void>((r) => { idleWaiters.push(r); checkIdle(); }),
    dispose: () => decoder.dispose(),
  };
  return E.right(engine);
};
