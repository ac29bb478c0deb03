/**
 * Llama `rope_scaling` (linear, dynamic, llama3) on ONNX Runtime: logits past the original
 * context equal transformers' (fixtures/fidelity/rope, tools/make_fidelity_fixtures.py) within
 * 1e-4, and the cached greedy decoder (`causalDecoder`, what the CLI runs) crosses the original
 * context token for token with transformers' `generate`.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import {
  type LlamaConfig, decodeModelConfig, paramsFromCheckpoint, parseSafetensors, toFloat32, causalLmGraph, eosTokenIds, i32, causalDecoder
} from '@prefix-tuning/core';
import { greedyOrSample } from '@prefix-tuning/core/decode';
import { onnxBackend } from '../src/index.ts';
import { fixturesDir } from './paths.ts';

const dir = join(fixturesDir, 'fidelity', 'rope');
const backend = onnxBackend({ intraOpNumThreads: 1 });

describe('Llama rope_scaling on onnxruntime equals transformers', () => {
  for (const name of readdirSync(dir).sort()) {
    const cfg = decodeModelConfig(JSON.parse(readFileSync(join(dir, name, 'config.json'), 'utf8')));
    if (E.isLeft(cfg)) throw new Error(cfg.left);
    const file = parseSafetensors(new Uint8Array(readFileSync(join(dir, name, 'model.safetensors'))));
    if (E.isLeft(file)) throw new Error(file.left);
    const ckpt = Object.fromEntries([...file.right.tensors].map(([k, t]) => [k, { shape: t.shape, data: (toFloat32(t) as E.Right<Float32Array>).right }]));
    const params = paramsFromCheckpoint(cfg.right, ckpt);
    if (E.isLeft(params)) throw new Error(params.left);
    const llama = cfg.right as LlamaConfig;
    const expected = JSON.parse(readFileSync(join(dir, name, 'expected.json'), 'utf8'));
    const disposers: (() => Promise<void>)[] = [];
    after(async () => { for (const d of disposers) await d(); });

    it(`${name}: logits of ${expected.inputs.input_ids.shape[1]} tokens within 1e-4`, async () => {
      const ex = await backend.compile(causalLmGraph(llama), { params: params.right });
      disposers.push(() => ex.dispose());
      const out = await ex.run({ input_ids: i32(expected.inputs.input_ids.shape, expected.inputs.input_ids.data) });
      const got = out['logits']!.data as Float32Array;
      let d = 0;
      for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - expected.logits.data[i]));
      assert.equal(got.length, expected.logits.data.length);
      assert.ok(d <= 1e-4, `max |diff| ${d}`);
    });

    it(`${name}: cached greedy decoding across the original context equals generate`, async () => {
      const g = expected.greedy;
      const dec = await causalDecoder(backend, llama, params.right);
      disposers.push(() => dec.dispose());
      const r = await greedyOrSample(await dec.start([g.prompt_ids]), [g.prompt_ids], {
        maxNewTokens: g.max_new_tokens, minLength: g.prompt_ids.length + g.max_new_tokens, eosTokenIds: eosTokenIds(llama),
      });
      assert.deepEqual(r.tokens[0], g.new_tokens);
    });
  }
});
