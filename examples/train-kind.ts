/**
 * Trains a custom kind end to end with the library's workflows, as a user would: `tune` on the
 * project's embedded base model (models/tiny-gpt2-en) with a few inline pairs, the adapter read
 * back with the kind, and `generator` serving it.
 *
 *   node --import tsx examples/train-kind.ts low-rank|gated [epochs]
 */
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { parseAdapter, type Kind, type Variant } from '@prefix-tuning/core';
import { onnxBackend } from '@prefix-tuning/backend-onnx';
import { loadModel, tune, generator } from '@prefix-tuning/hub';
import { lowRankPrefix } from './low-rank-prefix.ts';
import { gatedPrefix } from './gated-prefix.ts';

const kinds: Record<string, { kind: Kind; variant: Variant }> = {
  'low-rank': { kind: lowRankPrefix, variant: lowRankPrefix.variant({ length: 5, rank: 2 }) },
  gated: { kind: gatedPrefix, variant: gatedPrefix.variant({ length: 5 }) },
};

const foods = ['Thai', 'Italian', 'French', 'Indian', 'Chinese', 'English'];
const names = ['The Mill', 'Blue Spice', 'Aromi', 'The Punter', 'Zizzi', 'Cotto', 'Alimentum', 'Loch Fyne'];
const pairs = names.flatMap((n, i) => [0, 1, 2].map((j) => foods[(i + 2 * j) % foods.length]!).map((f) => ({ source: `name : ${n} | food : ${f}`, target: `${n} serves ${f} food .` })))
  .map((p, i) => ({ ...p, id: String(i) }));

const main = async (): Promise<void> => {
  const which = process.argv[2] ?? 'low-rank';
  const chosen = kinds[which];
  if (!chosen) throw new Error(`usage: train-kind.ts ${Object.keys(kinds).join('|')} [epochs]`);
  const epochs = Number(process.argv[3] ?? 30);
  const m = await loadModel(join(dirname(fileURLToPath(import.meta.url)), '..', 'models', 'tiny-gpt2-en'));
  if (E.isLeft(m)) throw new Error(m.left);
  const model = m.right;
  const backend = onnxBackend();
  const losses: number[] = [];
  const r = await tune({
    model: { ...model, name: 'tiny-gpt2-en' }, kinds: [chosen.kind],
    data: { kind: 'pairs', train: pairs.slice(0, 20), dev: pairs.slice(20), where: 'inline pairs' },
    settings: {
      variant: chosen.variant, loss: 'mean', epochs, batchSize: 4, seed: 1, schedule: { lr: 0.05, warmupSteps: 2, decay: 'linear' },
      optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
    },
    backend, hooks: { onRecord: (x) => { if (x.type === 'epoch') losses.push(x.train_loss); } },
  });
  console.log(`${which}: train loss by epoch ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  const bytes = r.adapter!.bytes;
  console.log(`adapter: ${r.adapter!.values} values, ${bytes.weights.length} bytes, peft ${bytes.peft}`);
  const adapter = parseAdapter(model.config, JSON.parse(bytes.config), bytes.weights, { kinds: [chosen.kind] });
  if (E.isLeft(adapter)) throw new Error(adapter.left);
  const gen = await generator({ backend, model, adapter: adapter.right });
  const [out] = await gen.run([pairs[22]!.source], { maxNewTokens: 12, seed: 0, batchSize: 1 });
  console.log(`generate: ${pairs[22]!.source} -> ${out!.text}`);
  await gen.dispose();
};

if (import.meta.url === `file://${process.argv[1]}`) await main();
