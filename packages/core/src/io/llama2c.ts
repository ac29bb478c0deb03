/**
 * llama2.c checkpoints (Karpathy's `model.bin` and `tokenizer.bin`) and their conversion to a
 * Hugging Face Llama directory (config.json, model.safetensors tensors, tokenizer.json), as pure
 * byte functions.
 *
 * model.bin, version 0 ("legacy", run.c): 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative when the classifier is not shared —, seq_len), then float32
 * weights: token_embedding [V,D], rms_att [L,D], wq [L,D,D], wk [L,KV,D], wv [L,KV,D],
 * wo [L,D,D], rms_ffn [L,D], w1 [L,F,D], w2 [L,D,F], w3 [L,F,D], rms_final [D],
 * freq_cis_real and freq_cis_imag [seq_len, head_size/2] each (skipped), then wcls [V,D] if
 * unshared. Matrices are [out, in] like nn.Linear. Version 1 (export.py `version1_export`):
 * a 256-byte header (magic "ak42", version 1, the 7 ints, a shared-classifier byte), then the
 * norms first, the embedding, the matrices, and wcls if unshared; no RoPE tables.
 *
 * RoPE: llama2.c rotates interleaved pairs (2i, 2i+1) of each head (Meta's convention); HF Llama
 * rotates halves (i, i + head_size/2) (`rotate_half`). As HF's convert_llama_weights_to_hf does,
 * the rows of wq and wk are permuted within each head so both give the same attention: HF row
 * j·(hd/2) + i = llama2.c row 2i + j (j ∈ {0,1}).
 *
 * tokenizer.bin: int32 max_token_length, then per token: float32 score, int32 byte length, bytes.
 * Pieces have SentencePiece's "▁" written as " ", and BOS/EOS written as "\n<s>\n" / "\n</s>\n".
 */
import * as E from 'fp-ts/lib/Either.js';
import type { TensorToWrite } from './safetensors.ts';

/** The hyper-parameters of a llama2.c model. */
export interface Llama2cConfig {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly sharedClassifier: boolean;
  readonly version: 0 | 1;
}

/** Weights of a llama2.c model, matrices [out, in] row-major, per-layer arrays of length nLayers. */
export interface Llama2cWeights {
  readonly tokenEmbedding: Float32Array; // [V, D]
  readonly rmsAtt: readonly Float32Array[]; // [D]
  readonly wq: readonly Float32Array[]; // [D, D]
  readonly wk: readonly Float32Array[]; // [KV, D]
  readonly wv: readonly Float32Array[]; // [KV, D]
  readonly wo: readonly Float32Array[]; // [D, D]
  readonly rmsFfn: readonly Float32Array[]; // [D]
  readonly w1: readonly Float32Array[]; // [F, D]
  readonly w2: readonly Float32Array[]; // [D, F]
  readonly w3: readonly Float32Array[]; // [F, D]
  readonly rmsFinal: Float32Array; // [D]
  readonly wcls: Float32Array; // [V, D] (the embedding itself when shared)
}

export interface Llama2cModel {
  readonly config: Llama2cConfig;
  readonly weights: Llama2cWeights;
}

const V1_MAGIC = 0x616b3432; // "ak42"

/** Parses a llama2.c `model.bin` (version 0 or 1, float32). The file size must match the config exactly. */
export const parseLlama2cModel = (bytes: Uint8Array): E.Either<string, Llama2cModel> => {
  if (bytes.length < 28) return E.left(`llama2c model: file is ${bytes.length} bytes, too short for the 28-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version: 0 | 1 = dv.getUint32(0, true) === V1_MAGIC ? 1 : 0;
  if (version === 1) {
    if (bytes.length < 256) return E.left('llama2c model: version-1 header needs 256 bytes');
    const v = dv.getInt32(4, true);
    if (v !== 1) return E.left(`llama2c model: version ${v} is not supported (only 0 and 1, float32; version 2 is int8-quantised)`);
  }
  const h = version === 1 ? 8 : 0;
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from({ length: 7 }, (_, i) => dv.getInt32(h + 4 * i, true)) as [number, number, number, number, number, number, number];
  const sharedClassifier = version === 1 ? dv.getUint8(36) === 1 : rawVocab > 0;
  const vocabSize = Math.abs(rawVocab);
  const cfg = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen };
  const bad = Object.entries(cfg).find(([, x]) => !(x > 0) || x > 1 << 20);
  if (bad) return E.left(`llama2c model: header field ${bad[0]} = ${bad[1]} is out of range (not a llama2.c model.bin?)`);
  if (dim % nHeads !== 0) return E.left(`llama2c model: dim ${dim} is not divisible by n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) return E.left(`llama2c model: n_heads ${nHeads} is not divisible by n_kv_heads ${nKvHeads}`);
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0) return E.left(`llama2c model: head size ${headSize} is odd; RoPE needs pairs`);
  const kvDim = (dim * nKvHeads) / nHeads;
  const L = nLayers;
  const D = dim;
  const F = hiddenDim;
  const V = vocabSize;
  const perLayer = 2 * D + D * D + 2 * kvDim * D + D * D + 3 * F * D;
  const floats = V * D + L * perLayer + D + (version === 0 ? seqLen * headSize : 0) + (sharedClassifier ? 0 : V * D);
  const start = version === 1 ? 256 : 28;
  const expected = start + 4 * floats;
  if (bytes.length !== expected)
    return E.left(
      `llama2c model: file is ${bytes.length} bytes but the header (dim ${D}, hidden_dim ${F}, n_layers ${L}, n_heads ${nHeads}, n_kv_heads ${nKvHeads}, vocab ${V}${sharedClassifier ? '' : ' unshared'}, seq_len ${seqLen}, version ${version}) implies ${expected}`,
    );
  const all = new Float32Array(floats);
  new Uint8Array(all.buffer).set(bytes.subarray(start, start + 4 * floats)); // little-endian platforms (x86, arm)
  let p = 0;
  const take = (n: number): Float32Array => {
    const x = all.subarray(p, p + n);
    p += n;
    return x;
  };
  const layers = (n: number): Float32Array[] => Array.from({ length: L }, () => take(n));
  let w: Llama2cWeights;
  if (version === 0) {
    const tokenEmbedding = take(V * D);
    const rmsAtt = layers(D), wq = layers(D * D), wk = layers(kvDim * D), wv = layers(kvDim * D), wo = layers(D * D);
    const rmsFfn = layers(D), w1 = layers(F * D), w2 = layers(D * F), w3 = layers(F * D);
    const rmsFinal = take(D);
    take(seqLen * headSize); // freq_cis_real, freq_cis_imag
    const wcls = sharedClassifier ? tokenEmbedding : take(V * D);
    w = { tokenEmbedding, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls };
  } else {
    const rmsAtt = layers(D), rmsFfn = layers(D);
    const rmsFinal = take(D);
    const tokenEmbedding = take(V * D);
    const wq = layers(D * D), wk = layers(kvDim * D), wv = layers(kvDim * D), wo = layers(D * D);
    const w1 = layers(F * D), w2 = layers(D * F), w3 = layers(F * D);
    const wcls = sharedClassifier ? tokenEmbedding : take(V * D);
    w = { tokenEmbedding, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls };
  }
  return E.right({ config: { ...cfg, sharedClassifier, version }, weights: w });
};

/** One vocabulary entry of a llama2.c tokenizer: its text (as stored: spaces, not "▁") and score. */
export interface Llama2cPiece {
  readonly text: string;
  readonly score: number;
}

/** Parses a llama2.c `tokenizer.bin`: all entries to the end of the file. Pieces must be UTF-8. */
export const parseLlama2cTokenizer = (bytes: Uint8Array): E.Either<string, { maxTokenLength: number; pieces: Llama2cPiece[] }> => {
  if (bytes.length < 4) return E.left('llama2c tokenizer: file too short');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxTokenLength = dv.getUint32(0, true);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const pieces: Llama2cPiece[] = [];
  let p = 4;
  while (p < bytes.length) {
    if (p + 8 > bytes.length) return E.left(`llama2c tokenizer: entry ${pieces.length} is truncated at byte ${p}`);
    const score = dv.getFloat32(p, true);
    const len = dv.getInt32(p + 4, true);
    p += 8;
    if (len < 0 || len > maxTokenLength || p + len > bytes.length)
      return E.left(`llama2c tokenizer: entry ${pieces.length} has length ${len} (max_token_length ${maxTokenLength}, ${bytes.length - p} bytes left)`);
    let text: string;
    try {
      text = dec.decode(bytes.subarray(p, p + len));
    } catch {
      return E.left(`llama2c tokenizer: entry ${pieces.length} is not valid UTF-8`);
    }
    pieces.push({ text, score });
    p += len;
  }
  return E.right({ maxTokenLength, pieces });
};

/** Permutes the rows of a [nHeads·hd, cols] projection from interleaved RoPE pairs to HF's rotate_half halves. */
export const permuteRopeRows = (w: Float32Array, nHeads: number, headSize: number, cols: number): Float32Array => {
  const out = new Float32Array(w.length);
  const half = headSize / 2;
  for (let h = 0; h < nHeads; h++)
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < half; i++) {
        const dst = (h * headSize + j * half + i) * cols;
        const src = (h * headSize + 2 * i + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
  return out;
};

/** HF Llama `config.json` for a llama2.c model. */
export const llamaHfConfig = (c: Llama2cConfig, ids: { bos: number; eos: number }): Record<string, unknown> => ({
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: ids.bos,
  eos_token_id: ids.eos,
  head_dim: c.dim / c.nHeads,
  hidden_act: 'silu',
  hidden_size: c.dim,
  initializer_range: 0.02,
  intermediate_size: c.hiddenDim,
  max_position_embeddings: c.seqLen,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: c.nHeads,
  num_hidden_layers: c.nLayers,
  num_key_value_heads: c.nKvHeads,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: c.sharedClassifier,
  torch_dtype: 'float32',
  use_cache: true,
  vocab_size: c.vocabSize,
});

/** HF Llama tensors (names as `LlamaForCausalLM.state_dict()`), wq/wk permuted for rotate_half; no lm_head when tied. */
export const llamaHfTensors = (m: Llama2cModel): Map<string, TensorToWrite> => {
  const { dim: D, hiddenDim: F, nHeads, nKvHeads, vocabSize: V } = m.config;
  const hd = D / nHeads;
  const kv = nKvHeads * hd;
  const w = m.weights;
  const out = new Map<string, TensorToWrite>();
  const put = (name: string, shape: number[], data: Float32Array): void => void out.set(name, { dtype: 'F32', shape, data });
  put('model.embed_tokens.weight', [V, D], w.tokenEmbedding);
  for (let l = 0; l < m.config.nLayers; l++) {
    const p = `model.layers.${l}.`;
    put(`${p}input_layernorm.weight`, [D], w.rmsAtt[l]!);
    put(`${p}self_attn.q_proj.weight`, [D, D], permuteRopeRows(w.wq[l]!, nHeads, hd, D));
    put(`${p}self_attn.k_proj.weight`, [kv, D], permuteRopeRows(w.wk[l]!, nKvHeads, hd, D));
    put(`${p}self_attn.v_proj.weight`, [kv, D], w.wv[l]!);
    put(`${p}self_attn.o_proj.weight`, [D, D], w.wo[l]!);
    put(`${p}post_attention_layernorm.weight`, [D], w.rmsFfn[l]!);
    put(`${p}mlp.gate_proj.weight`, [F, D], w.w1[l]!);
    put(`${p}mlp.down_proj.weight`, [D, F], w.w2[l]!);
    put(`${p}mlp.up_proj.weight`, [F, D], w.w3[l]!);
  }
  put('model.norm.weight', [D], w.rmsFinal);
  if (!m.config.sharedClassifier) put('lm_head.weight', [V, D], w.wcls);
  return out;
};

/** A SentencePiece vocabulary entry in its native form ("▁" for spaces). */
export interface SentencePiece {
  readonly piece: string;
  readonly score: number;
}

/** SentencePiece pieces back from llama2.c's tokenizer.bin entries ("\n<s>\n" -> "<s>", " " -> "▁"). */
export const sentencePiecesOfLlama2c = (pieces: readonly Llama2cPiece[]): SentencePiece[] =>
  pieces.map(({ text, score }) => ({
    piece: text === '\n<s>\n' ? '<s>' : text === '\n</s>\n' ? '</s>' : text.replaceAll(' ', '▁'),
    score,
  }));

/**
 * BPE merges from a SentencePiece vocabulary, as transformers' `generate_merges(vocab,
 * vocab_scores)` derives them for the slow -> fast Llama conversion: every split of a piece into
 * two pieces of the vocabulary (splits ordered by the ids of the two halves), all ordered by the
 * merged piece's score, descending, then longer left half, then longer right half (stable).
 * Special pieces take no part.
 */
export const mergesFromScores = (pieces: readonly SentencePiece[], special: ReadonlySet<string>): [string, string][] => {
  const vocab = new Map<string, number>();
  pieces.forEach((p, i) => {
    if (!vocab.has(p.piece)) vocab.set(p.piece, i);
  });
  const all: { l: string; r: string; score: number; ll: number; lr: number; order: number }[] = [];
  let order = 0;
  for (const { piece, score } of pieces) {
    if (special.has(piece)) continue;
    const cps = [...piece]; // Python slices strings by code point
    const local: { l: string; r: string }[] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join('');
      const r = cps.slice(k).join('');
      if (special.has(l) || special.has(r)) continue;
      if (vocab.has(l) && vocab.has(r)) local.push({ l, r });
    }
    local.sort((a, b) => vocab.get(a.l)! - vocab.get(b.l)! || vocab.get(a.r)! - vocab.get(b.r)!);
    for (const m of local) all.push({ ...m, score, ll: [...m.l].length, lr: [...m.r].length, order: order++ });
  }
  all.sort((a, b) => b.score - a.score || b.ll - a.ll || b.lr - a.lr || a.order - b.order);
  return all.map((m) => [m.l, m.r]);
};

/**
 * A Llama (SentencePiece BPE with byte fallback) `tokenizer.json`, laid out as the Llama-2 files
 * transformers writes: normalizer prepends "▁" and replaces spaces by "▁", no pre-tokenizer,
 * BPE with merges from scores and `<0xNN>` byte fallback, "<s>" added by the post-processor,
 * and a decoder that undoes all of it.
 */
export const llamaTokenizerJson = (
  pieces: readonly SentencePiece[],
  special: { readonly unk: string; readonly bos: string; readonly eos: string } = { unk: '<unk>', bos: '<s>', eos: '</s>' },
): E.Either<string, Record<string, unknown>> => {
  const ids = new Map<string, number>();
  for (const [i, p] of pieces.entries()) {
    if (ids.has(p.piece)) return E.left(`tokenizer: piece ${JSON.stringify(p.piece)} appears twice (ids ${ids.get(p.piece)} and ${i})`);
    ids.set(p.piece, i);
  }
  for (const s of [special.unk, special.bos, special.eos]) if (!ids.has(s)) return E.left(`tokenizer: special piece ${JSON.stringify(s)} is missing`);
  const specials = new Set([special.unk, special.bos, special.eos]);
  const bosId = ids.get(special.bos)!;
  const added = [...specials].map((content) => ({ id: ids.get(content)!, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })).sort((a, b) => a.id - b.id);
  return E.right({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: special.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: special.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: special.bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [special.bos]: { id: special.bos, ids: [bosId], tokens: [special.bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: special.unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(ids),
      merges: mergesFromScores(pieces, specials),
    },
  });
};

/** `tokenizer_config.json` matching `llamaTokenizerJson`. */
export const llamaTokenizerConfig = (maxLength: number, ids: { unk: number; bos: number; eos: number }): Record<string, unknown> => ({
  add_bos_token: true,
  add_eos_token: false,
  added_tokens_decoder: Object.fromEntries(
    ([[ids.unk, '<unk>'], [ids.bos, '<s>'], [ids.eos, '</s>']] as const).map(([id, content]) => [
      String(id),
      { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
    ]),
  ),
  bos_token: '<s>',
  clean_up_tokenization_spaces: false,
  eos_token: '</s>',
  legacy: true,
  model_max_length: maxLength,
  pad_token: null,
  sp_model_kwargs: {},
  tokenizer_class: 'LlamaTokenizer',
  unk_token: '<unk>',
});

/** Everything a Hugging Face Llama directory needs, converted from llama2.c files. */
export interface LlamaHfDir {
  readonly config: Record<string, unknown>;
  readonly generationConfig: Record<string, unknown>;
  readonly tensors: Map<string, TensorToWrite>;
  readonly tokenizer: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
}

/** Converts parsed llama2.c model + tokenizer bytes into the contents of a HF Llama directory. */
export const llama2cToHf = (modelBytes: Uint8Array, tokenizerBytes: Uint8Array): E.Either<string, LlamaHfDir> => {
  const model = parseLlama2cModel(modelBytes);
  if (E.isLeft(model)) return model;
  const tok = parseLlama2cTokenizer(tokenizerBytes);
  if (E.isLeft(tok)) return tok;
  const c = model.right.config;
  if (tok.right.pieces.length !== c.vocabSize)
    return E.left(`llama2c: the tokenizer has ${tok.right.pieces.length} entries but the model's vocab_size is ${c.vocabSize} (mismatched files?)`);
  const pieces = sentencePiecesOfLlama2c(tok.right.pieces);
  const tj = llamaTokenizerJson(pieces);
  if (E.isLeft(tj)) return tj;
  const idOf = (p: string): number => pieces.findIndex((x) => x.piece === p);
  const ids = { unk: idOf('<unk>'), bos: idOf('<s>'), eos: idOf('</s>') };
  return E.right({
    config: llamaHfConfig(c, ids),
    generationConfig: { bos_token_id: ids.bos, eos_token_id: ids.eos },
    tensors: llamaHfTensors(model.right),
    tokenizer: tj.right,
    tokenizerConfig: llamaTokenizerConfig(c.seqLen, ids),
  });
};
