/** What `train` prints and records about a model and a variant, and the feeds it adds per batch. */
import { createHash } from 'node:crypto';
import { modelSites, type Batch, type HostTensor, type Injection, type ModelConfig, type Sampler } from '@prefix-tuning/core';

/** A digest of the frozen weights (sampled windows of every tensor: cheap, and different for another model). */
export const modelDigest = (cfg: ModelConfig, params: Readonly<Record<string, HostTensor>>): string => {
  const h = createHash('sha256');
  h.update(JSON.stringify(cfg));
  for (const name of Object.keys(params).sort()) {
    const t = params[name]!;
    const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    h.update(`${name}[${t.shape.join(',')}]`);
    const w = 4096;
    for (const at of [0, Math.max(0, Math.floor(b.length / 2) - w / 2), Math.max(0, b.length - w)]) h.update(b.subarray(at, at + w));
  }
  return h.digest('hex');
};

export const describeVariant = (inj: Injection): string => {
  if (inj.groups.length === 0) return `${inj.variant.kind === 'finetune' ? 'fine-tuning' : inj.variant.kind} (${inj.trainable.length} weight tensors)`;
  return inj.groups.map((g) => `${g.kind} ${g.length}${g.site && g.site !== 'self' ? ` at ${g.site}` : ''} (${g.reparam.kind === 'mlp' ? `MLP ${g.reparam.hidden}` : 'direct'}${g.initText !== undefined ? `, init ${JSON.stringify(g.initText)}` : ''})`).join(' + ');
};

export const paramCount = (inj: Injection): number => inj.trainable.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);

/** Dropout masks for the groups with dropout (values 0 or 1/(1-p)), or all ones (dev evaluation). */
export const dropoutFeeds = (inj: Injection, rows: number, rng?: Sampler): Record<string, HostTensor> => {
  const out: Record<string, HostTensor> = {};
  if (!inj.dropoutInputs) return out;
  for (const g of inj.groups) {
    if (g.dropout <= 0) continue;
    const n = rows * g.length * g.width;
    const keep = 1 / (1 - g.dropout);
    const data = new Float32Array(n);
    if (rng) for (let i = 0; i < n; i++) data[i] = rng.uniform() < g.dropout ? 0 : keep;
    else data.fill(1);
    out[`${g.scope}.dropout_mask`] = { dtype: 'float32', shape: [rows, g.length, g.width], data };
  }
  return out;
};

export const rowsOf = (b: Batch): number => (b.feeds['input_ids'] ?? Object.values(b.feeds)[0]!).shape[0]!;
