/**
 * Text tokenizers from a model directory's `tokenizer.json` (+ `tokenizer_config.json` for the
 * special tokens), run by `@huggingface/tokenizers` (a pure JS port of the Rust library), with
 * the Rust library's byte-fallback decoding (`byteFallbackChain`).
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { Tokenizer } from '@huggingface/tokenizers';
import { exists, readJson } from './files.ts';

/** What the rest of the library needs from a tokenizer. */
export interface TextTokenizer {
  /** Token ids of `text`; special tokens (e.g. Llama's BOS) are added unless `addSpecialTokens` is false. */
  encode(text: string, options?: { readonly addSpecialTokens?: boolean }): number[];
  /**
   * Text of `ids` (throws RangeError on an id outside the vocabulary: a caller bug); special tokens are kept unless `skipSpecialTokens`. `cleanUpSpaces` (default:
   * the config's `clean_up_tokenization_spaces`, as transformers does) removes the space before
   * punctuation and contractions (" ." -> ".", " 's" -> "'s").
   */
  decode(ids: readonly number[], options?: { readonly skipSpecialTokens?: boolean; readonly cleanUpSpaces?: boolean }): string;
  /** Id of a token string, if it is in the vocabulary. */
  tokenToId(token: string): number | undefined;
  /** Number of ids (largest id + 1, added tokens included). */
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  readonly unkId?: number;
}

/** A special token in tokenizer_config.json: a string, or an AddedToken object with `content`. */
const SpecialToken = t.union([t.string, t.type({ content: t.string }), t.null]);

/** The part of `tokenizer_config.json` used here; other fields pass through to the tokenizer. */
export const TokenizerConfig = t.partial({
  bos_token: SpecialToken,
  eos_token: SpecialToken,
  pad_token: SpecialToken,
  unk_token: SpecialToken,
});
export type TokenizerConfig = t.TypeOf<typeof TokenizerConfig>;

const TokenizerJson = t.type({ model: t.type({ type: t.string }) });

/** A `<0xNN>` byte token's value as the Rust decoder reads it (`u8::from_str_radix` of the two middle characters). */
const byteOfToken = (token: string): number | undefined =>
  /^<0x(\+[0-9a-fA-F]|[0-9a-fA-F]{2})>$/.test(token) ? parseInt(token.slice(3, 5), 16) : undefined;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The `ByteFallback` decoder step of the Rust tokenizers library (what transformers runs): each
 * run of consecutive `<0xNN>` tokens becomes its UTF-8 text when the whole run is valid UTF-8,
 * and otherwise one U+FFFD per byte token of the run (not per invalid sequence, as a lenient
 * UTF-8 decoder would); other tokens pass through.
 */
export const byteFallbackChain = (tokens: readonly string[]): string[] => {
  const out: string[] = [];
  let run: number[] = [];
  const flush = (): void => {
    if (run.length === 0) return;
    try {
      out.push(strictUtf8.decode(Uint8Array.from(run)));
    } catch {
      for (let i = 0; i < run.length; i++) out.push('\uFFFD');
    }
    run = [];
  };
  for (const tok of tokens) {
    const b = byteOfToken(tok);
    if (b !== undefined) run.push(b);
    else {
      flush();
      out.push(tok);
    }
  }
  flush();
  return out;
};

/** Replaces the JS port's lenient ByteFallback steps (a WHATWG decoder) by `byteFallbackChain`, in place. */
type DecoderStep = { config?: { type?: string }; decoders?: DecoderStep[]; decode_chain: (tokens: string[]) => string[] };
const useRustByteFallback = (d: DecoderStep | null): void => {
  if (d === null) return;
  if (d.config?.type === 'ByteFallback') d.decode_chain = byteFallbackChain;
  else if (d.config?.type === 'Sequence') d.decoders?.forEach(useRustByteFallback);
};

const content = (x: t.TypeOf<typeof SpecialToken> | undefined): string | undefined =>
  x === undefined || x === null ? undefined : typeof x === 'string' ? x : x.content;

/**
 * Builds a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` values.
 * Left when the JSON is not a tokenizer or the library rejects it.
 */
export const makeTokenizer = (tokenizerJson: unknown, config: unknown = {}): E.Either<string, TextTokenizer> => {
  if (!TokenizerJson.is(tokenizerJson)) return E.left('tokenizer.json: not a tokenizer (no model.type)');
  const cfg = TokenizerConfig.decode(config);
  if (E.isLeft(cfg)) return E.left('tokenizer_config.json: special tokens must be strings or {content} objects');
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, config as object);
  } catch (e) {
    return E.left(`tokenizer.json: cannot be loaded (${(e as Error).message})`);
  }
  useRustByteFallback(tok.decoder as unknown as DecoderStep | null);
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const idOf = (x: t.TypeOf<typeof SpecialToken> | undefined): number | undefined => {
    const c = content(x);
    return c === undefined ? undefined : tok.token_to_id(c);
  };
  const ids = {
    bosId: idOf(cfg.right.bos_token),
    eosId: idOf(cfg.right.eos_token),
    padId: idOf(cfg.right.pad_token),
    unkId: idOf(cfg.right.unk_token),
  };
  return E.right({
    encode: (text, options) => tok.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }).ids,
    decode: (ids, options) => {
      if (ids.length === 0) return '';
      const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id > maxId);
      if (bad !== undefined) throw new RangeError(`decode: id ${bad} is outside the vocabulary [0, ${maxId}]`);
      return tok.decode([...ids], {
        skip_special_tokens: options?.skipSpecialTokens ?? false,
        ...(options?.cleanUpSpaces === undefined ? {} : { clean_up_tokenization_spaces: options.cleanUpSpaces }),
      });
    },
    tokenToId: (token) => tok.token_to_id(token),
    vocabSize: maxId + 1,
    ...Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== undefined)),
  });
};

/** Loads `tokenizer.json` (required) and `tokenizer_config.json` (optional) from a directory. */
export const loadTokenizer = async (dir: string): Promise<E.Either<string, TextTokenizer>> => {
  const tj = await readJson(join(dir, 'tokenizer.json'));
  if (E.isLeft(tj)) return E.left(`${tj.left} (a tokenizer.json is required; convert slow tokenizers with transformers' save_pretrained)`);
  const cfgPath = join(dir, 'tokenizer_config.json');
  let cfg: unknown = {};
  if (await exists(cfgPath)) {
    const c = await readJson(cfgPath);
    if (E.isLeft(c)) return c;
    cfg = c.right;
  }
  const r = makeTokenizer(tj.right, cfg);
  return E.isLeft(r) ? E.left(`${dir}: ${r.left}`) : r;
};
