/**
 * What the lowering tells onnxruntime's memory planner. Laws: every intermediate value's
 * declared type and shape (value_info, symbolic dims by name) is the one onnxruntime computes
 * at run time, on whole models (a prefix train step, prefill and cached steps, appended-cache
 * steps); outputs are lowered last to first, so onnxruntime (a reverse depth-first order from
 * the last-emitted leaf) computes the first-listed output first.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import * as ort from 'onnxruntime-node';
import { type Graph, type Gpt2Config, decodeModelConfig, inject, modelSites, injectedTrainGraph, causalLmGraph, graph } from '@prefix-tuning/core';
import { prefillGraph, stepGraph } from '@prefix-tuning/core/models';
import { appendStepGraph } from '@prefix-tuning/core/decode';
import { input, param, matmul, reshape, softmax, reduceSum, crossEntropy, transpose, dimMul, dimEval, parseDim } from '@prefix-tuning/core/graph';
import { trainStepGraph } from '../../core/src/train/index.ts';
import { lowerGraph } from '../src/lower/graph.ts';
import { encodeModel, type OnnxDim } from '../src/onnx/model.ts';
import { rng } from './support.ts';

const cfgE = decodeModelConfig({ model_type: 'gpt2', vocab_size: 64, n_positions: 64, n_embd: 16, n_layer: 2, n_head: 2, activation_function: 'gelu_new' });
if (E.isLeft(cfgE)) throw new Error(cfgE.left);
const cfg = cfgE.right as Gpt2Config;

const trainStep = (): Graph => {
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: 3, reparam: { kind: 'mlp', hidden: 8 } });
  return trainStepGraph(injectedTrainGraph(cfg, inj, { loss: 'mean' }).outputs['loss']!, inj.trainable, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 });
};

const models: [string, () => Graph][] = [
  ['prefix train step', trainStep],
  ['forward with loss', () => graph({ loss: causalLmGraph(cfg, { loss: 'mean' }).outputs['loss']! })],
  ['prefill', () => prefillGraph(cfg, { attentionMask: true, positionIds: true })],
  ['cached step', () => stepGraph(cfg, { attentionMask: true, positionIds: true })],
  ['appended-cache step', () => appendStepGraph(cfg)],
];

const size = (d: OnnxDim, env: Record<string, number>): number => (typeof d === 'number' ? d : dimEval(parseDim(d)!, env));

describe('value_info', () => {
  for (const [name, build] of models)
    it(`${name}: every declared intermediate shape is the one onnxruntime computes`, async () => {
      const m = lowerGraph(build()).model;
      const infos = m.graph.valueInfo ?? [];
      assert.ok(infos.length > 10, `${infos.length} value_info entries`);
      // every declared intermediate is read through an Identity output (making a Range's
      // output a graph output itself crashes onnxruntime 1.30, with or without value_info)
      const probes = infos.map((v) => ({ ...v, name: `probe:${v.name}` }));
      const identities = infos.map((v) => ({ opType: 'Identity', domain: '', name: `probe:${v.name}`, inputs: [v.name], outputs: [`probe:${v.name}`], attrs: {} }));
      const probe = { ...m, graph: { ...m.graph, nodes: [...m.graph.nodes, ...identities], outputs: [...m.graph.outputs, ...probes] } };
      const session = await ort.InferenceSession.create(encodeModel(probe), { logSeverityLevel: 3 });
      const r = rng(7);
      const env: Record<string, number> = {};
      for (const i of m.graph.inputs)
        for (const d of i.shape ?? []) if (typeof d === 'string' && /^[A-Za-z_]\w*$/.test(d) && env[d] === undefined) env[d] = 2 + Math.floor(r() * 3);
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of m.graph.inputs) {
        const dims = (i.shape ?? []).map((d) => size(d, env));
        const n = dims.reduce((a, b) => a * b, 1);
        feeds[i.name] =
          i.dtype === 'float32' ? new ort.Tensor('float32', Float32Array.from({ length: n }, () => (i.name === 'step' ? 1 : 0.1 * (r() - 0.5))), dims)
          : i.dtype === 'bool' ? new ort.Tensor('bool', new Uint8Array(n).fill(1), dims)
          : new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.floor(r() * 4)), dims);
      }
      const out = await session.run(feeds);
      for (const v of infos) {
        const t = out[`probe:${v.name}`]!;
        assert.equal(t.type === 'bool' ? 'bool' : t.type, v.dtype, `${v.name}: dtype`);
        assert.deepEqual([...t.dims], (v.shape ?? []).map((d) => size(d, env)), `${v.name}: declared [${(v.shape ?? []).join(',')}] with ${JSON.stringify(env)}`);
      }
      await session.release();
    });

  it('a reshape to a computed shape keeps its symbolic dims by name (the logits flattened for the loss)', () => {
    const x = input('x', ['B', 'T', 4]);
    const flat = reshape(matmul(x, param('w', [4, 9])), [dimMul(x.shape[0]!, x.shape[1]!), 9]);
    const m = lowerGraph(graph({ y: reduceSum(softmax(flat)) })).model.graph;
    const shapeOf = (name: string) => (m.valueInfo ?? []).find((v) => v.name === name)?.shape;
    const sm = m.nodes.find((n) => n.opType === 'Softmax')!;
    assert.deepEqual(shapeOf(sm.inputs[0]!), ['B*T', 9], 'the softmax reads a [B*T, 9] value');
    assert.deepEqual(shapeOf(sm.outputs[0]!), ['B*T', 9], 'the softmax writes one (so it may run in place)');
  });
});

describe('output order', () => {
  it("the first-listed output's own nodes are emitted last (onnxruntime then computes it first)", () => {
    const h = input('h', ['N', 4]);
    const w = param('w', [5, 4]);
    const logits = matmul(h, transpose(w, [1, 0]));
    const loss = crossEntropy(logits, input('labels', ['N'], 'int32'));
    const other = reduceSum(softmax(logits));
    const nodes = lowerGraph(graph({ loss, other })).model.graph.nodes;
    const gather = nodes.findIndex((n) => n.opType === 'GatherElements');
    const sm = nodes.findIndex((n) => n.opType === 'Softmax');
    assert.ok(gather > sm, `the loss's gather (node ${gather}) comes after the other output's softmax (node ${sm})`);
    const swapped = lowerGraph(graph({ other, loss })).model.graph.nodes;
    assert.ok(swapped.findIndex((n) => n.opType === 'GatherElements') < swapped.findIndex((n) => n.opType === 'Softmax'));
  });
});
