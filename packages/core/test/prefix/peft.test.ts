/**
 * Equality with PEFT's PREFIX_TUNING on transformers-written fixtures (tools/make_fixtures.py):
 * with PEFT's initial prefix parameters (prefix_projection true and false), our loss, logits and
 * gradients w.r.t. every prefix parameter equal PEFT's within 1e-4; PEFT's saved adapter (the
 * computed prefix) loads here as a stored injection and gives PEFT's reloaded logits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { input } from '../../src/ops/leaves.ts';
import { graph, graphParams } from '../../src/ir/graph.ts';
import type { Node } from '../../src/ir/node.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import { causalDecoder } from '../../src/prefix/decoding.ts';
import { generate } from '../../src/decode/search.ts';
import { hfOptions } from '../decode/hf.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { decodeModelConfig, paramsFromCheckpoint, shiftTokensRight, type ModelConfig, type BartConfig, type CausalLmConfig } from '../../src/models/index.ts';
import { inject, type Injection } from '../../src/prefix/inject.ts';
import { parseAdapter } from '../../src/prefix/export.ts';
import { injectedTrainGraph, injectedCausalForward, injectedBartForward, modelSites } from '../../src/prefix/graphs.ts';
import { parseSafetensors, toFloat32 } from '../../src/io/safetensors.ts';
import { repoRoot, loadFixture } from '../models/fixtures.ts';

const peftDir = join(repoRoot, 'fixtures', 'peft');
const cases = existsSync(peftDir) ? readdirSync(peftDir).filter((c) => existsSync(join(peftDir, c, 'expected.json'))) : [];

type J = { shape: number[]; data: number[] };
const f32 = (t: J): HostTensor => ({ dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data) });
const i32 = (t: { shape: number[]; data: number[] } | number[][]): HostTensor => {
  if (Array.isArray(t)) return { dtype: 'int32', shape: [t.length, t[0]!.length], data: Int32Array.from(t.flat()) };
  return { dtype: 'int32', shape: t.shape, data: Int32Array.from(t.data) };
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(Number(a[i]) - Number(b[i])));
  return m;
};

const setup = (c: string) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ex = JSON.parse(readFileSync(join(peftDir, c, 'expected.json'), 'utf8')) as any;
  const base = loadFixture(ex.base_model.split('/').pop());
  const cfg = decodeModelConfig(base.config);
  if (E.isLeft(cfg)) throw new Error(cfg.left);
  const params = paramsFromCheckpoint(cfg.right, base.checkpoint);
  if (E.isLeft(params)) throw new Error(params.left);
  return { ex, cfg: cfg.right, frozen: params.right };
};

const injectionFor = (cfg: ModelConfig, ex: { peft_config: Record<string, unknown> }, mode: 'train' | 'stored'): Injection => {
  const pc = ex.peft_config;
  const P = pc['num_virtual_tokens'] as number;
  const reparam = pc['prefix_projection'] ? { kind: 'mlp' as const, hidden: pc['encoder_hidden_size'] as number } : { kind: 'direct' as const };
  return inject(modelSites(cfg), { kind: 'prefix', length: P, reparam }, { layout: 'peft', mode, peftRows: pc['num_layers'] as number });
};

/** The training-batch logits with the prefix (BART: decoder inputs = labels shifted right, as PEFT derives them). */
const trainLogits = (cfg: ModelConfig, inj: Injection): Node => {
  if (cfg.model_type !== 'bart')
    return injectedCausalForward(cfg, inj, { ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32') }).logits;
  return injectedBartForward(cfg, inj, {
    ids: input('input_ids', ['B', 'S'], 'int32'), mask: input('attention_mask', ['B', 'S'], 'int32'),
    decoderIds: shiftTokensRight(input('labels', ['B', 'T'], 'int32'), cfg.pad_token_id ?? 1, cfg.decoder_start_token_id ?? 2),
  }).logits;
};

/** Feeds of the fixture batch for our train graph. */
const feedsOf = (ex: { batch: Record<string, J | number[][]> }): Record<string, HostTensor> =>
  Object.fromEntries(Object.entries(ex.batch).filter(([k]) => ['input_ids', 'attention_mask', 'labels'].includes(k)).map(([k, v]) => [k, i32(v)]));

for (const c of cases) {
  test(`${c}: loss, logits and prefix gradients equal PEFT's`, () => {
    const { ex, cfg, frozen } = setup(c);
    const inj = injectionFor(cfg, ex, 'train');
    const ours = Object.fromEntries(Object.entries(ex.initial_parameters as Record<string, J>).map(([k, v]) => [`prefix.${k}`, f32(v)]));
    assert.deepEqual(Object.keys(ours).sort(), inj.trainable.map((p) => p.name).sort());
    const loss = injectedTrainGraph(cfg, inj, { loss: 'mean' }).outputs['loss']!;
    const byName = new Map(graphParams(graph({ loss })).map((p) => [p.attrs.name, p] as const));
    const names = inj.trainable.map((p) => p.name);
    const grads = grad(loss, names.map((n) => byName.get(n)!));
    const outs: Record<string, Node> = { loss, logits: trainLogits(cfg, inj) };
    names.forEach((n, i) => { outs[`grad:${n}`] = grads[i]!; });
    const r = evaluate(graph(outs), feedsOf(ex), { ...frozen, ...ours }, { precision: 'f32' });
    const dl = maxDiff(r['logits']!.data as Float32Array, (ex.logits as J).data);
    assert.ok(dl < 1e-4, `logits max |diff| ${dl}`);
    assert.ok(Math.abs(Number(r['loss']!.data[0]) - ex.loss) < 1e-4, `loss ${r['loss']!.data[0]} vs PEFT ${ex.loss}`);
    for (const [k, g] of Object.entries(ex.gradients as Record<string, J>)) {
      const d = maxDiff(r[`grad:prefix.${k}`]!.data as Float32Array, g.data);
      assert.ok(d < 1e-4, `${k}: max |diff| ${d}`);
    }
  });

  test(`${c}: PEFT's saved adapter loads here and gives PEFT's logits`, () => {
    const { ex, cfg, frozen } = setup(c);
    const file = parseSafetensors(new Uint8Array(readFileSync(join(peftDir, c, 'adapter', 'adapter_model.safetensors'))));
    assert.ok(E.isRight(file));
    const pe = file.right.tensors.get('prompt_embeddings')!;
    const data = toFloat32(pe);
    assert.ok(E.isRight(data));
    const inj = injectionFor(cfg, ex, 'stored');
    const prefix = { 'prefix.embedding.weight': { dtype: 'float32' as const, shape: [...pe.shape], data: data.right } };
    const inputs = ex.reload_inputs as Record<string, J>;
    let logits;
    if (cfg.model_type === 'bart') {
      const b = cfg as BartConfig;
      const out = injectedBartForward(b, inj, {
        ids: input('input_ids', ['B', 'S'], 'int32'), mask: input('attention_mask', ['B', 'S'], 'int32'),
        decoderIds: input('decoder_input_ids', ['B', 'T'], 'int32'),
      });
      logits = evaluate(graph({ l: out.logits }), Object.fromEntries(['input_ids', 'attention_mask', 'decoder_input_ids'].map((k) => [k, i32(inputs[k]!)])), { ...frozen, ...prefix })['l']!;
    } else {
      const out = injectedCausalForward(cfg as CausalLmConfig, inj, { ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32') });
      logits = evaluate(graph({ l: out.logits }), { input_ids: i32(inputs['input_ids']!), attention_mask: i32(inputs['attention_mask']!) }, { ...frozen, ...prefix })['l']!;
    }
    const want = ex.reload_logits as J;
    assert.deepEqual(logits.shape, want.shape);
    const d = maxDiff(logits.data as Float32Array, want.data);
    assert.ok(d < 1e-4, `logits max |diff| ${d}`);
  });
}

test('generation with a PEFT adapter (greedy and beam search) equals PEFT generate', async () => {
  const c = 'gpt2-tiny-prefix-proj';
  if (!cases.includes(c)) return;
  const { ex, cfg, frozen } = setup(c);
  const file = parseSafetensors(new Uint8Array(readFileSync(join(peftDir, c, 'adapter', 'adapter_model.safetensors'))));
  assert.ok(E.isRight(file));
  const pe = file.right.tensors.get('prompt_embeddings')!;
  const data = toFloat32(pe);
  assert.ok(E.isRight(data));
  const inj = injectionFor(cfg, ex, 'stored');
  const params = { ...frozen, 'prefix.embedding.weight': { dtype: 'float32' as const, shape: [...pe.shape], data: data.right } };
  const dec = await causalDecoder(referenceBackend(), cfg as CausalLmConfig, params, inj);
  const eos = [91];
  for (const kind of ['greedy', 'beam'] as const) {
    const g = ex.generation_with_prefix[kind];
    const o = hfOptions(g.generate_kwargs, eos);
    const r = await generate(await dec.start([g.prompt_ids], { beams: o.numBeams ?? 1 }), [g.prompt_ids], o);
    const seq = (g.sequences[0] as number[]).slice(g.prompt_ids.length);
    const end = seq.indexOf(91);
    assert.deepEqual(r.tokens[0], end >= 0 ? seq.slice(0, end + 1) : seq, kind);
    if (kind === 'beam') assert.ok(Math.abs(r.scores[0]! - g.sequences_scores.data[0]) < 1e-4);
  }
  await dec.dispose();
});

test('an adapter written here, loaded by PEFT (tools/check_adapter.py), gives PEFT the logits it gives us', () => {
  const dir = join(repoRoot, 'fixtures', 'peft-roundtrip', 'gpt2-tiny');
  if (!existsSync(join(dir, 'expected.json'))) return;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ex = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as any;
  const base = loadFixture('gpt2-tiny');
  const cfg = decodeModelConfig(base.config);
  assert.ok(E.isRight(cfg));
  const frozen = paramsFromCheckpoint(cfg.right, base.checkpoint);
  assert.ok(E.isRight(frozen));
  const loaded = parseAdapter(cfg.right, JSON.parse(readFileSync(join(dir, 'adapter', 'adapter_config.json'), 'utf8')), new Uint8Array(readFileSync(join(dir, 'adapter', 'adapter_model.safetensors'))));
  assert.ok(E.isRight(loaded), E.isLeft(loaded) ? loaded.left : '');
  const inj = loaded.right.injection!;
  const out = injectedCausalForward(cfg.right as CausalLmConfig, inj, { ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32') });
  const lg = evaluate(graph({ l: out.logits }), { input_ids: i32(ex.inputs.input_ids), attention_mask: i32(ex.inputs.attention_mask) }, { ...frozen.right, ...loaded.right.params })['l']!;
  assert.deepEqual(lg.shape, ex.peft_logits.shape);
  assert.ok(maxDiff(lg.data as Float32Array, ex.peft_logits.data) < 1e-4);
});
