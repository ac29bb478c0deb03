/**
 * Many users, one frozen model: a prefix bank holds one prefix per user, and one batch mixes
 * users — every row picks its own prefix by `user_ids`. Here three "users" are trained at once
 * on three different toy tasks (count up by 1, by 2, by 3), then one mixed batch is decoded
 * greedily with the ONNX backend.
 *
 *   node --import tsx examples/prefix-bank.ts
 */
import {
  inject, modelSites, injectedTrainGraph, decodeModelConfig, modelParamShapes, train, causalDecoder, generate,
  initialValues, Sampler, type HostTensor, type CausalLmConfig,
} from '@prefix-tuning/core';
import { onnxBackend } from '@prefix-tuning/backend-onnx';
import * as E from 'fp-ts/lib/Either.js';

const V = 24;
const main = async (): Promise<void> => {
  const cfg = decodeModelConfig({ model_type: 'gpt2', vocab_size: V, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4 });
  if (E.isLeft(cfg)) throw new Error(cfg.left);
  const model = cfg.right as CausalLmConfig;
  const users = 3;
  const inj = inject(modelSites(model), { kind: 'prefix', length: 8 }, { users });
  const s = new Sampler(0);
  const frozen = Object.fromEntries(Object.entries(modelParamShapes(model)).map(([n, sh]) =>
    [n, { dtype: 'float32' as const, shape: [...sh], data: Float32Array.from({ length: sh.reduce((a, b) => a * b, 1) }, () => s.normal() * 0.5) }]));
  const init = initialValues(inj.trainable, 1);
  // user u continues a sequence with step u+1
  const seq = (u: number, a: number) => Array.from({ length: 6 }, (_, i) => (a + i * (u + 1)) % V);
  const t = (shape: number[], d: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(d) });
  const batches = Array.from({ length: 12 }, (_, k) => {
    const rows = [0, 1, 2, (k % 3)].map((u, i) => ({ u, ids: seq(u, (k * 5 + i * 7) % V) }));
    const ids = rows.flatMap((r) => r.ids);
    return { feeds: { input_ids: t([4, 6], ids), attention_mask: t([4, 6], ids.map(() => 1)), labels: t([4, 6], ids), user_ids: t([4], rows.map((r) => r.u)) }, tokens: 20 };
  });
  const backend = onnxBackend();
  console.log(`backend: ${backend.engine}`);
  const loss = injectedTrainGraph(model, inj, { loss: 'mean' }).outputs['loss']!;
  const r = await train({
    backend, loss, trainable: inj.trainable, init, frozen, trainBatches: batches,
    config: { epochs: 120, seed: 1, schedule: { lr: 0.1, warmupSteps: 10, decay: 'linear' }, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
    hooks: { onEpoch: (m) => { if (m.epoch % 20 === 0) console.log(`epoch ${m.epoch}: loss ${m.trainLoss.toFixed(3)}`); } },
  });
  // serve: one batch, each row with its own user's prefix
  const dec = await causalDecoder(backend, model, { ...frozen, ...r.params }, inj);
  const prompts = [[3, 4], [3, 5], [3, 6]];
  const out = await generate(await dec.start(prompts, { userIds: [0, 1, 2] }), prompts, { maxNewTokens: 4 });
  prompts.forEach((p, u) => console.log(`user ${u}: ${p.join(' ')} -> ${out.tokens[u]!.join(' ')}`));
  await dec.dispose();
};

if (import.meta.url === `file://${process.argv[1]}`) await main();
