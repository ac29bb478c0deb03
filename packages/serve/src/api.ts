/**
 * The request bodies of the OpenAI-compatible API as io-ts codecs (the single source of their
 * types), and their validation into decoding settings. Unknown fields are refused, as OpenAI
 * does ("Unrecognized request argument supplied"); fields OpenAI has that the server does not
 * implement are refused by name unless they are at their neutral value. Extension fields:
 * `num_beams`, `length_penalty` (beam search, the paper's decoding).
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { badRequest, type ApiError } from './errors.ts';
import type { Sampling } from './engine.ts';

const Stop = t.union([t.string, t.array(t.string), t.null]);
const TokenIds = t.array(t.number);
const Prompt = t.union([t.string, t.array(t.string), TokenIds, t.array(TokenIds)]);

const common = {
  max_tokens: t.union([t.number, t.null]),
  max_completion_tokens: t.union([t.number, t.null]),
  temperature: t.union([t.number, t.null]),
  top_p: t.union([t.number, t.null]),
  seed: t.union([t.number, t.null]),
  stop: Stop,
  n: t.union([t.number, t.null]),
  stream: t.union([t.boolean, t.null]),
  stream_options: t.union([t.type({ include_usage: t.boolean }), t.null]),
  user: t.string,
  presence_penalty: t.union([t.number, t.null]),
  frequency_penalty: t.union([t.number, t.null]),
  num_beams: t.number,
  length_penalty: t.number,
  return_token_ids: t.boolean,
};

export const CompletionRequestC = t.intersection([
  t.type({ model: t.string, prompt: Prompt }),
  t.partial({ ...common, logprobs: t.union([t.number, t.null]), echo: t.union([t.boolean, t.null]), best_of: t.union([t.number, t.null]), suffix: t.union([t.string, t.null]), logit_bias: t.union([t.record(t.string, t.number), t.null]) }),
], 'CompletionRequest');
export type CompletionRequest = t.TypeOf<typeof CompletionRequestC>;

const Message = t.intersection([t.type({ role: t.keyof({ system: null, user: null, assistant: null, developer: null, tool: null }), content: t.union([t.string, t.null]) }), t.partial({ name: t.string })]);
export const ChatRequestC = t.intersection([
  t.type({ model: t.string, messages: t.array(Message) }),
  t.partial({ ...common, logprobs: t.union([t.boolean, t.null]), top_logprobs: t.union([t.number, t.null]), logit_bias: t.union([t.record(t.string, t.number), t.null]) }),
], 'ChatCompletionRequest');
export type ChatRequest = t.TypeOf<typeof ChatRequestC>;

export const AdapterLoadC = t.type({ id: t.string }, 'AdapterLoad');

const keysOf = (c: t.Mixed): string[] =>
  c instanceof t.IntersectionType ? (c.types as t.Mixed[]).flatMap(keysOf) : c instanceof t.InterfaceType || c instanceof t.PartialType ? Object.keys(c.props as object) : [];

/** Decodes a body with `codec`; unknown fields and type errors are 400s naming the field. */
export const decodeBody = <C extends t.Mixed>(codec: C, body: unknown): E.Either<ApiError, t.TypeOf<C>> => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return E.left(badRequest('the request body must be a JSON object'));
  const known = new Set(keysOf(codec));
  const unknown = Object.keys(body).filter((k) => !known.has(k));
  if (unknown.length > 0) return E.left(badRequest(`Unrecognized request argument supplied: ${unknown.slice(0, 3).join(', ')}`, unknown[0]!, 'unknown_parameter'));
  const r = codec.decode(body);
  if (E.isRight(r)) return r;
  const err = r.left[0]!;
  const top = err.context.map((c) => c.key).find((k) => known.has(k)) ?? 'body';
  const missing = err.value === undefined;
  const show = JSON.stringify(err.value)?.slice(0, 60) ?? 'undefined';
  return E.left(badRequest(missing ? `Missing required parameter: '${top}'` : `Invalid type for '${top}': got ${show}`, top, missing ? 'missing_required_parameter' : 'invalid_type'));
};

export interface Limits {
  /** Largest `max_tokens` accepted. */
  readonly maxTokensCap: number;
  /** Largest `n` × prompts accepted in one request. */
  readonly maxSequences: number;
}

const isInt = (x: number) => Number.isSafeInteger(x);

/** The decoding settings of a request, or the 400 that says which field is wrong. */
export const sampling = (r: CompletionRequest | ChatRequest, limits: Limits, logprobs: number | undefined): E.Either<ApiError, Sampling & { n: number }> => {
  const bad = (m: string, p: string) => E.left(badRequest(m, p, 'invalid_value'));
  const maxTokens = r.max_tokens ?? r.max_completion_tokens ?? undefined;
  if (maxTokens !== undefined && (!isInt(maxTokens) || maxTokens < 1)) return bad(`max_tokens must be an integer >= 1, got ${maxTokens}`, 'max_tokens');
  if (maxTokens !== undefined && maxTokens > limits.maxTokensCap) return bad(`max_tokens is ${maxTokens}, above this server's limit of ${limits.maxTokensCap} (--max-tokens-cap)`, 'max_tokens');
  const temperature = r.temperature ?? undefined;
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) return bad(`temperature must be in [0, 2], got ${temperature}`, 'temperature');
  const topP = r.top_p ?? undefined;
  if (topP !== undefined && !(topP > 0 && topP <= 1)) return bad(`top_p must be in (0, 1], got ${topP}`, 'top_p');
  if (r.seed !== undefined && r.seed !== null && !(isInt(r.seed) && r.seed >= 0 && r.seed < 2 ** 32)) return bad(`seed must be an integer in [0, 2^32), got ${r.seed}`, 'seed');
  const n = r.n ?? 1;
  if (!isInt(n) || n < 1 || n > limits.maxSequences) return bad(`n must be an integer in [1, ${limits.maxSequences}], got ${n}`, 'n');
  const stop = r.stop === undefined || r.stop === null ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
  if (stop.length > 4) return bad(`stop takes at most 4 sequences, got ${stop.length}`, 'stop');
  if (stop.some((s) => s.length === 0 || s.length > 256)) return bad('stop sequences must be 1-256 characters', 'stop');
  for (const k of ['presence_penalty', 'frequency_penalty'] as const) {
    const v = r[k];
    if (v !== undefined && v !== null && v !== 0) return bad(`${k} is not supported by this server (give 0 or leave it out)`, k);
  }
  if (r.logit_bias !== undefined && r.logit_bias !== null && Object.keys(r.logit_bias).length > 0) return bad('logit_bias is not supported by this server', 'logit_bias');
  const numBeams = r.num_beams ?? 1;
  if (!isInt(numBeams) || numBeams < 1 || numBeams > 16) return bad(`num_beams must be an integer in [1, 16], got ${numBeams}`, 'num_beams');
  if (r.length_penalty !== undefined && !Number.isFinite(r.length_penalty)) return bad(`length_penalty must be a finite number, got ${r.length_penalty}`, 'length_penalty');
  if (r.length_penalty !== undefined && numBeams === 1) return bad('length_penalty applies to beam search (num_beams > 1)', 'length_penalty');
  if (numBeams > 1 && r.top_p !== undefined && r.top_p !== null) return bad('top_p applies to sampling, not beam search', 'top_p');
  if (numBeams > 1 && (r.temperature ?? 0) > 0) return bad('beam search is deterministic: give temperature 0 (or leave it out) with num_beams > 1', 'temperature');
  if (numBeams > 1 && n > numBeams) return bad(`n (${n}) must be <= num_beams (${numBeams})`, 'n');
  if (numBeams > 1 && logprobs !== undefined) return bad('logprobs are not reported for beam search', 'logprobs');
  return E.right({
    stop, numBeams, n,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    ...(numBeams > 1 ? { temperature: 0 } : temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(r.seed !== undefined && r.seed !== null ? { seed: r.seed } : {}),
    ...(r.length_penalty !== undefined ? { lengthPenalty: r.length_penalty } : {}),
    ...(logprobs !== undefined ? { logprobs } : {}),
  });
};

/** The prompts of a completion request (a string, strings, token ids or lists of them). */
export const prompts = (p: CompletionRequest['prompt']): E.Either<ApiError, (string | number[])[]> => {
  if (typeof p === 'string') return E.right([p]);
  if (p.length === 0) return E.left(badRequest('prompt must not be an empty list', 'prompt'));
  if (p.every((x) => typeof x === 'number')) return E.right([p as number[]]);
  return E.right(p as (string | number[])[]);
};
