/**
 * A real pretrained Llama: ../shared/models/stories260K (llama2.c format), converted to a
 * Hugging Face directory by core io's `llama2cToHf`, decoded by `decodeModelConfig`, loaded
 * by `paramsFromCheckpoint` and decoded greedily from BOS through the Llama prefill + step
 * graphs. The model's README quotes the text this must give.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { llama2cToHf, parseLlama2cTokenizer } from '../../src/io/llama2c.ts';
import { decodeModelConfig, paramsFromCheckpoint, type CausalLmConfig, type Checkpoint } from '../../src/models/index.ts';
import { sharedDir } from './fixtures.ts';
import { greedyCausal } from './greedy.ts';

const dir = join(sharedDir, 'models', 'stories260K');
const QUOTE = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

/** llama2.c's decoding of pieces: raw bytes for `<0xNN>`, no leading space right after BOS. */
const detokenize = (pieces: readonly string[], ids: readonly number[], bos: number): string => {
  const bytes: number[] = [];
  let prev = bos;
  for (const id of ids) {
    let p = pieces[id]!;
    if (prev === bos && p.startsWith(' ')) p = p.slice(1);
    const m = /^<0x([0-9A-F]{2})>$/.exec(p);
    if (m) bytes.push(parseInt(m[1]!, 16));
    else bytes.push(...new TextEncoder().encode(p));
    prev = id;
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
};

it('stories260K (converted from llama2.c) greedily decodes the text its README quotes', { skip: !existsSync(dir) && `${dir} not found` }, () => {
  const modelBytes = new Uint8Array(readFileSync(join(dir, 'stories260K.bin')));
  const tokBytes = new Uint8Array(readFileSync(join(dir, 'tok512.bin')));
  const hf = llama2cToHf(modelBytes, tokBytes);
  assert.ok(E.isRight(hf), E.isLeft(hf) ? hf.left : '');
  const cfg = decodeModelConfig(hf.right.config);
  assert.ok(E.isRight(cfg), E.isLeft(cfg) ? cfg.left : '');
  const ckpt: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const [name, t] of hf.right.tensors) {
    assert.ok('data' in t, `${name}: expected float data`);
    ckpt[name] = { shape: t.shape, data: Float32Array.from(t.data) };
  }
  const params = paramsFromCheckpoint(cfg.right, ckpt as Checkpoint);
  assert.ok(E.isRight(params), E.isLeft(params) ? params.left : '');
  const c = cfg.right as CausalLmConfig;
  const bos = c.bos_token_id!;
  const ids = greedyCausal(c, params.right, [bos], 64);
  const tok = parseLlama2cTokenizer(tokBytes);
  assert.ok(E.isRight(tok));
  const text = detokenize(tok.right.pieces.map((p) => p.text), ids, bos);
  assert.ok(text.startsWith(QUOTE), text);
});
