/**
 * PEFT `SEQ_2_SEQ_LM` prefix adapters for BART, both directions, on a BART with 3 encoder and
 * 2 decoder layers (fixtures/fidelity, tools/make_fidelity_fixtures.py):
 * - an adapter PEFT 0.21.2 wrote (num_layers 3 = encoder layers, num_transformer_submodules 2)
 *   loads through `parseAdapter`; logits, greedy and 4-beam decoding equal PEFT's;
 * - adapters trained here (PEFT layout, and the paper layout with `sites: ['self']`) are written
 *   by `serializeAdapter` as plain PEFT adapters; `PeftModel.from_pretrained` on the committed
 *   files (tools/check_adapter.py) gave the logits we compute from them, and greedy and 4-beam
 *   `generate` outputs equal ours.
 * Regenerate the trained adapters with WRITE_BART_ROUNDTRIP=1 (then rerun the python check:
 * `tools/make_fidelity_fixtures.py peft-roundtrip`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { input } from '../../src/ops/leaves.ts';
import { graph } from '../../src/ir/graph.ts';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { decodeModelConfig, paramsFromCheckpoint, type BartConfig } from '../../src/models/index.ts';
import { inject, type InjectOptions, type Injection } from '../../src/prefix/inject.ts';
import { injectedBartForward, injectedTrainGraph, modelSites } from '../../src/prefix/graphs.ts';
import { initialValues } from '../../src/prefix/init.ts';
import { parseAdapter, peftExpressible, serializeAdapter, storedParams } from '../../src/prefix/export.ts';
import { parseAdapterConfig } from '../../src/io/peft.ts';
import { seq2seqGenerateOptions } from '../../src/decode/seq2seq.ts';
import { seq2seqDecoder } from '../../src/prefix/decoding.ts';
import { generate } from '../../src/decode/search.ts';
import { train } from '../../src/loop/trainer.ts';
import { hfOptions } from '../decode/hf.ts';
import { maxAbsDiff, readCheckpoint, repoRoot } from '../models/fixtures.ts';

const fid = join(repoRoot, 'fixtures', 'fidelity');
const baseDir = join(fid, 'peft-bart', 'bart-enc3-dec2');
const read = (p: string): any => JSON.parse(readFileSync(p, 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any
const cfgE = decodeModelConfig(read(join(baseDir, 'config.json')));
if (E.isLeft(cfgE)) throw new Error(cfgE.left);
const cfg = cfgE.right as BartConfig;
const frozenE = paramsFromCheckpoint(cfg, readCheckpoint(join(baseDir, 'model.safetensors')));
if (E.isLeft(frozenE)) throw new Error(frozenE.left);
const frozen = frozenE.right;
const i32 = (t: { shape: readonly number[]; data: readonly number[] }): HostTensor => ({ dtype: 'int32', shape: [...t.shape], data: Int32Array.from(t.data) });
const adapterFiles = (dir: string): [unknown, Uint8Array] => [read(join(dir, 'adapter_config.json')), new Uint8Array(readFileSync(join(dir, 'adapter_model.safetensors')))];

const logitsWith = (inj: Injection, params: Record<string, HostTensor>, inputs: Record<string, { shape: number[]; data: number[] }>): HostTensor => {
  const out = injectedBartForward(cfg, inj, {
    ids: input('input_ids', ['B', 'S'], 'int32'), mask: input('attention_mask', ['B', 'S'], 'int32'), decoderIds: input('decoder_input_ids', ['B', 'T'], 'int32'),
  });
  return evaluate(graph({ l: out.logits }), { input_ids: i32(inputs['input_ids']!), attention_mask: i32(inputs['attention_mask']!), decoder_input_ids: i32(inputs['decoder_input_ids']!) }, { ...frozen, ...params })['l']!;
};

test('a PEFT-written SEQ_2_SEQ_LM adapter on an asymmetric BART loads: logits, greedy and 4-beam decoding equal PEFT', async () => {
  const ex = read(join(fid, 'peft-bart', 'expected.json'));
  assert.equal(ex.peft_config.num_layers, 3);
  const loaded = parseAdapter(cfg, ...adapterFiles(join(fid, 'peft-bart', 'adapter')));
  assert.ok(E.isRight(loaded), E.isLeft(loaded) ? loaded.left : '');
  assert.equal(loaded.right.peft, true);
  const inj = loaded.right.injection!;
  const lg = logitsWith(inj, loaded.right.params, ex.inputs);
  assert.deepEqual(lg.shape, ex.logits.shape);
  assert.ok(maxAbsDiff(lg.data as Float32Array, ex.logits.data) < 1e-4, `logits ${maxAbsDiff(lg.data as Float32Array, ex.logits.data)}`);
  const dec = await seq2seqDecoder(referenceBackend(), cfg, { ...frozen, ...loaded.right.params }, inj);
  const ids = seq2seqGenerateOptions(cfg);
  for (const kind of ['greedy', 'beam'] as const) {
    const g = ex.generation[kind];
    const o = { ...hfOptions(g.generate_kwargs, ids.eosTokenIds!), ...ids };
    const r = await generate(await dec.start([g.encoder_input_ids], { beams: o.numBeams ?? 1 }), [dec.decoderPrompt], o);
    assert.deepEqual([...dec.decoderPrompt, ...r.tokens[0]!], g.sequences[0], kind);
    if (kind === 'beam') assert.ok(Math.abs(r.scores[0]! - g.sequences_scores.data[0]) < 1e-4, `score ${r.scores[0]} vs ${g.sequences_scores.data[0]}`);
  }
  await dec.dispose();
});

test('PEFT seq2seq adapters that PEFT cannot run on this model are refused with the reason', () => {
  const [config, weights] = adapterFiles(join(fid, 'peft-bart', 'adapter'));
  const c = config as Record<string, unknown>;
  const left = (j: unknown): string => {
    const r = parseAdapter(cfg, j, weights);
    return E.isLeft(r) ? r.left : assert.fail('expected a Left');
  };
  assert.match(left({ ...c, num_layers: 1 }), /num_layers is 1, fewer than the model's 2 decoder layers/);
  assert.match(left({ ...c, task_type: 'CAUSAL_LM' }), /task_type is "CAUSAL_LM", but the model is an encoder-decoder/);
  assert.match(left({ ...c, num_transformer_submodules: 1 }), /num_transformer_submodules is 1/);
  assert.match(left({ ...c, token_dim: 8, num_attention_heads: 2 }), /token_dim is 8, but the model has 16/);
  const gpt2 = decodeModelConfig({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 16, n_layer: 3, n_head: 2 });
  assert.ok(E.isRight(gpt2));
  const r = parseAdapter(gpt2.right, config, weights);
  assert.ok(E.isLeft(r) && /SEQ_2_SEQ_LM \(an encoder-decoder adapter\), but the model is a gpt2/.test(r.left));
});

// ------------------------------------------------------------------ adapters trained here, loaded by PEFT

const roundtrip: { name: string; variant: { kind: 'prefix'; length: number; sites?: ['self'] }; opts: InjectOptions; numLayers: number }[] = [
  { name: 'layout-peft', variant: { kind: 'prefix', length: 3 }, opts: { layout: 'peft' }, numLayers: 3 },
  { name: 'paper-self', variant: { kind: 'prefix', length: 2, sites: ['self'] }, opts: {}, numLayers: 4 },
];

/** Ten AdamW steps on a fixed batch from a random init (reference backend, deterministic). */
const trainAdapter = async (c: (typeof roundtrip)[number]): Promise<{ inj: Injection; trained: Record<string, HostTensor>; stored: Record<string, HostTensor> }> => {
  const inj = inject(modelSites(cfg), { ...c.variant, reparam: { kind: 'mlp', hidden: 8 } }, c.opts);
  const loss = injectedTrainGraph(cfg, inj, { loss: 'mean' }).outputs['loss']!;
  const t = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });
  const batch = { input_ids: t([2, 5], [0, 11, 23, 35, 2, 0, 47, 9, 2, 1]), attention_mask: t([2, 5], [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]), labels: t([2, 4], [0, 17, 29, 2, 0, 41, 2, -100]) };
  const r = await train({
    backend: referenceBackend(), loss, trainable: inj.trainable, init: initialValues(inj.trainable, 7, frozen), frozen,
    trainBatches: [{ feeds: batch, tokens: 7 }],
    config: { epochs: 10, seed: 1, schedule: { lr: 0.05, warmupSteps: 0, decay: 'constant' }, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
  });
  return { inj, trained: r.params, stored: storedParams(inj, r.params) };
};

for (const c of roundtrip) {
  test(`a BART adapter trained here (${c.name}) is a plain PEFT SEQ_2_SEQ_LM adapter; PEFT computed our logits from the committed files`, async () => {
    const dir = join(fid, 'peft-roundtrip-bart', c.name);
    const { inj, trained, stored } = await trainAdapter(c);
    assert.ok(peftExpressible(cfg, inj));
    const bytes = serializeAdapter(cfg, inj, stored, { baseModel: 'fixtures/fidelity/peft-bart/bart-enc3-dec2' });
    assert.equal(bytes.peft, true);
    const pc = parseAdapterConfig(JSON.parse(bytes.config));
    assert.ok(E.isRight(pc));
    assert.deepEqual([pc.right.task_type, pc.right.num_transformer_submodules, pc.right.num_layers, pc.right.token_dim, pc.right.num_attention_heads],
      ['SEQ_2_SEQ_LM', 2, c.numLayers, 16, 2]);
    if (process.env['WRITE_BART_ROUNDTRIP'] === '1') {
      mkdirSync(join(dir, 'adapter'), { recursive: true });
      writeFileSync(join(dir, 'adapter', 'adapter_config.json'), bytes.config);
      writeFileSync(join(dir, 'adapter', 'adapter_model.safetensors'), bytes.weights);
      const inputs = read(join(fid, 'peft-bart', 'expected.json')).inputs;
      writeFileSync(join(dir, 'inputs.json'), `${JSON.stringify(inputs)}\n`);
    }
    // the files read back compute what the trained injection computes
    const inputs = read(join(dir, 'inputs.json'));
    const ours = logitsWith(inj, trained, inputs);
    const back = parseAdapter(cfg, JSON.parse(bytes.config), bytes.weights);
    assert.ok(E.isRight(back), E.isLeft(back) ? back.left : '');
    assert.ok(maxAbsDiff(logitsWith(back.right.injection!, back.right.params, inputs).data as Float32Array, ours.data as Float32Array) < 1e-5);
    // the committed files (written by this code) are what PEFT loaded: their logits are PEFT's
    const committed = parseAdapter(cfg, ...adapterFiles(join(dir, 'adapter')));
    assert.ok(E.isRight(committed), E.isLeft(committed) ? committed.left : '');
    const peft = read(join(dir, 'expected.json'));
    const got = logitsWith(committed.right.injection!, committed.right.params, inputs);
    assert.deepEqual(got.shape, peft.peft_logits.shape);
    assert.ok(maxAbsDiff(got.data as Float32Array, peft.peft_logits.data) < 1e-4, `vs PEFT ${maxAbsDiff(got.data as Float32Array, peft.peft_logits.data)}`);
    assert.ok(maxAbsDiff(ours.data as Float32Array, peft.peft_logits.data) < 1e-3, 'retraining here reproduces the committed adapter');
    // and PEFT's generate from the committed files (greedy and 4 beams) is ours
    const dec = await seq2seqDecoder(referenceBackend(), cfg, { ...frozen, ...committed.right.params }, committed.right.injection!);
    const src = inputs['input_ids'].data.slice(0, inputs['input_ids'].shape[1]);
    for (const g of [peft.generation.greedy, peft.generation.beam]) {
      const o = { ...seq2seqGenerateOptions(cfg), maxNewTokens: g.max_new_tokens, numBeams: g.num_beams };
      const r = await generate(await dec.start([src], { beams: g.num_beams }), [dec.decoderPrompt], o);
      assert.deepEqual([...dec.decoderPrompt, ...r.tokens[0]!], g.sequences[0], `beams ${g.num_beams}`);
    }
    await dec.dispose();
  });
}
