/**
 * Trainable activations (prefix, infix) and their parametrisation, in PEFT's layout.
 *
 * The stored ("computed") prefix of one attachment site is `prompt: [P, 2·L·td]` with
 * td = kvHeads·headDim (PEFT's `token_dim`, reduced for grouped-query attention exactly as
 * PEFT does). Along the last axis it is laid out as [L, 2 (key, value), kvHeads, headDim]:
 * layer i's key is block 2i and its value block 2i+1 (PEFT's `get_prompt`:
 * `view(B, P, 2L, H, Dh).permute(2, 0, 3, 1, 4).split(2)`).
 *
 * Parametrisations (PEFT's `PrefixEncoder` parameter names):
 * - direct: `embedding.weight` [P, 2·L·td];
 * - mlp (the paper's reparametrisation, P = MLP(P')): `embedding.weight` [P, td],
 *   `transform.0.weight` [h, td], `transform.0.bias` [h], `transform.2.weight` [2·L·td, h],
 *   `transform.2.bias` [2·L·td] with tanh between (nn.Linear weights are [out, in]).
 * After training only the computed prefix is kept (the MLP is dropped, as in the paper).
 */
import type { Node } from '../ir/node.ts';
import type { Dim } from '../types/dim.ts';
import { param } from '../ops/leaves.ts';
import { add, mul } from '../ops/binary.ts';
import { tanh } from '../ops/unary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import { reshape, transpose, slice, broadcastTo } from '../ops/layout.ts';
import { gather } from '../ops/gather.ts';
import type { Reparam } from './variant.ts';
import type { SiteGeometry } from '../models/common.ts';

/** Geometry of the attention layers a prefix attaches to (declared by the model). */
export type { SiteGeometry } from '../models/common.ts';

/** PEFT's token_dim: key/value width per layer. */
export const tokenDim = (g: SiteGeometry): number => g.kvHeads * g.headDim;

/** How a parameter is initialised. */
export type InitSpec =
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'zeros' }
  | { readonly kind: 'copy'; readonly from: string };

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: InitSpec;
  /** Whether AdamW's weight decay applies (not to biases and norms, as the official trainer). */
  readonly decay: boolean;
}

/** Width of the computed prompt's last axis: 2·L·td (one shared layer when `shared`). */
export const promptWidth = (g: SiteGeometry, shared = false): number => 2 * (shared ? 1 : g.layers) * tokenDim(g);

/** Stored parameter count of a computed prefix: P·2·L·td. */
export const storedPrefixCount = (g: SiteGeometry, length: number, shared = false): number => length * promptWidth(g, shared);

/**
 * Parameters of one trainable-activation group, named `<scope>.<PEFT name>`. nn.Linear's
 * default initialisation is U(-1/sqrt(in), 1/sqrt(in)); embeddings N(0, 1) as PyTorch does.
 */
export const activationParamSpecs = (
  scope: string,
  length: number,
  width: number,
  inDim: number,
  reparam: Reparam,
  std = 1,
): ParamSpec[] => {
  if (reparam.kind === 'direct')
    return [{ name: `${scope}.embedding.weight`, shape: [length, width], init: { kind: 'normal', std }, decay: true }];
  const h = reparam.hidden;
  return [
    { name: `${scope}.embedding.weight`, shape: [length, inDim], init: { kind: 'normal', std }, decay: true },
    { name: `${scope}.transform.0.weight`, shape: [h, inDim], init: { kind: 'uniform', bound: 1 / Math.sqrt(inDim) }, decay: true },
    { name: `${scope}.transform.0.bias`, shape: [h], init: { kind: 'uniform', bound: 1 / Math.sqrt(inDim) }, decay: false },
    { name: `${scope}.transform.2.weight`, shape: [width, h], init: { kind: 'uniform', bound: 1 / Math.sqrt(h) }, decay: true },
    { name: `${scope}.transform.2.bias`, shape: [width], init: { kind: 'uniform', bound: 1 / Math.sqrt(h) }, decay: false },
  ];
};

/** The param node of a spec. */
export const paramNode = (s: ParamSpec): Node => param(s.name, s.shape);

/**
 * The computed activations [P, width] of a group from its parameters: the embedding itself
 * (direct) or `tanh(E W0ᵀ + b0) W2ᵀ + b2` (mlp). `stored` replaces the MLP by the computed
 * prefix (inference, or after training).
 */
export const computedActivations = (scope: string, length: number, width: number, inDim: number, reparam: Reparam): Node => {
  if (reparam.kind === 'direct') return param(`${scope}.embedding.weight`, [length, width]);
  const h = reparam.hidden;
  const e = param(`${scope}.embedding.weight`, [length, inDim]); // [P, td]
  const w0 = param(`${scope}.transform.0.weight`, [h, inDim]);
  const b0 = param(`${scope}.transform.0.bias`, [h]);
  const w2 = param(`${scope}.transform.2.weight`, [width, h]);
  const b2 = param(`${scope}.transform.2.bias`, [width]);
  return add(matmul(tanh(add(matmul(e, mT(w0)), b0)), mT(w2)), b2); // [P, width]
};

/**
 * Splits a prompt into per-layer key/value for a batch (layer l's key/value are rows
 * `rows[l]`, by default 2l and 2l+1 of the [2L] axis):
 * prompt [P, 2·L·td] (one prefix for all rows) or [B, P, 2·L·td] (per-row, from a bank)
 * -> L pairs of [B, kvHeads, P, headDim].
 */
export const promptToPast = (
  prompt: Node,
  g: SiteGeometry,
  batch: Dim,
  layers = g.layers,
  rows?: readonly (readonly [number, number])[],
): { key: Node; value: Node }[] => {
  const perRow = prompt.shape.length === 3;
  const P = prompt.shape[perRow ? 1 : 0]!;
  const W = prompt.shape[perRow ? 2 : 1] as number;
  const nRows = W / tokenDim(g); // 2L, or PEFT's own row count
  const x = perRow
    ? transpose(reshape(prompt, [batch, P, nRows, g.kvHeads, g.headDim]), [2, 0, 3, 1, 4]) // [2L, B, H, P, Dh]
    : transpose(reshape(prompt, [1, P, nRows, g.kvHeads, g.headDim]), [2, 0, 3, 1, 4]); // [2L, 1, H, P, Dh]
  const pick = (i: number): Node => {
    const s = reshape(slice(x, 0, i, i + 1), [perRow ? batch : 1, g.kvHeads, P, g.headDim]);
    return perRow ? s : broadcastTo(s, [batch, g.kvHeads, P, g.headDim]);
  };
  return Array.from({ length: layers }, (_, l) => {
    const [k, v] = rows?.[l] ?? [2 * l, 2 * l + 1];
    return { key: pick(k), value: pick(v) };
  });
};

/**
 * A prefix bank: U users' computed prompts [U, P, W] as one parameter/input, indexed per
 * example by `userIds` [B] -> [B, P, W]. One batch mixes users.
 */
export const bankLookup = (bank: Node, userIds: Node): Node => gather(bank, userIds, 0);

/** Multiplies activations by a host-fed dropout mask (values 0 or 1/(1-p)); identity when absent. */
export const applyDropout = (x: Node, mask: Node | undefined): Node => (mask ? mul(x, mask) : x);
