/**
 * The train step as one pure graph: the loss, its gradient w.r.t. the trainable parameters
 * (core `grad`: frozen weights cost no weight-gradient work), optional global-norm clipping
 * and the AdamW update. A backend compiles it once and carries the trainable parameters and
 * the optimizer moments as state between runs:
 *
 *   inputs   the loss graph's inputs (the batch), `lr` and `step` (f32 scalars, step >= 1)
 *   state    `<name>` (a trainable param), `<name>:m`, `<name>:v` (params of the graph)
 *   outputs  `loss`, `grad_norm`, `<name>:new`, `<name>:m:new`, `<name>:v:new`
 *
 * Gradient accumulation (`accumulation: k > 1`) is done inside the graph, so no gradient
 * ever leaves the device: each trainable parameter gets an accumulator `<name>:acc` (state,
 * output `<name>:acc:new`) and the graph takes an `apply` input (f32 scalar, 0 or 1). Run it
 * on k micro-batches with apply = 0, ..., 0, 1: the first k-1 runs only add their gradient to
 * the accumulator (parameters and moments unchanged); the k-th updates with the accumulated
 * gradient (averaged over k unless `averageAccumulated: false`) and resets the accumulator.
 * `grad_norm` is the norm of the gradient the update uses (before clipping).
 */
import type { Node } from '../ir/node.ts';
import { currentPath } from '../ir/node.ts';
import { type Graph, graph, graphParams, renameGraph } from '../ir/graph.ts';
import { GraphError } from '../errors.ts';
import { shapeToString } from '../types/shape.ts';
import { input, param, scalar } from '../ops/leaves.ts';
import { add, mul, where, less } from '../ops/binary.ts';
import { broadcastTo } from '../ops/layout.ts';
import { grad } from '../autodiff/grad.ts';
import type { HostTensor } from '../backend/tensor.ts';
import type { StateSpec } from '../backend/backend.ts';
import type { AdamWConfig } from './config.ts';
import { adamwUpdate, clipByGlobalNorm, globalNorm } from './adamw.ts';

/** A trainable parameter: its name in the loss graph and whether weight decay applies (prefix `ParamSpec`s fit). */
export interface Trainable {
  readonly name: string;
  readonly decay?: boolean;
}

/** Names of the train step's graph inputs, state entries and outputs. */
export const trainNames = {
  lr: 'lr',
  step: 'step',
  apply: 'apply',
  loss: 'loss',
  gradNorm: 'grad_norm',
  next: (name: string): string => `${name}:new`,
  m: (name: string): string => `${name}:m`,
  v: (name: string): string => `${name}:v`,
  acc: (name: string): string => `${name}:acc`,
  /** Step `j` of an unrolled run (`unrollTrainSteps`): its inputs and its loss and grad norm outputs (step 0 keeps the plain names). */
  at: (name: string, j: number): string => (j === 0 ? name : `${name}@${j}`),
} as const;

/** The state entries of a train step (trainable params, their moments, and accumulators with `accumulation` > 1). */
export const trainStateNames = (trainable: readonly Trainable[], config: AdamWConfig): string[] =>
  trainable.flatMap(({ name }) => paramState(name, config));

/** One trainable parameter's state entries: itself, its moments, its accumulator (with accumulation). */
const paramState = (name: string, config: AdamWConfig): string[] =>
  [name, trainNames.m(name), trainNames.v(name), ...((config.accumulation ?? 1) > 1 ? [trainNames.acc(name)] : [])];

/**
 * Builds the train-step graph for the scalar `loss` (float32 []), updating `trainable`
 * params of its graph. Throws `GraphError` (wrap in `build` for a `Left`) when a trainable
 * name is not a float32 param of the loss graph.
 */
export const trainStepGraph = (loss: Node, trainable: readonly Trainable[], config: AdamWConfig): Graph => {
  const path = currentPath();
  if (loss.dtype !== 'float32' || loss.shape.length !== 0) throw new GraphError('trainStep', path, `loss must be a float32 scalar, got ${loss.dtype}${shapeToString(loss.shape)}`);
  if (trainable.length === 0) throw new GraphError('trainStep', path, 'no trainable parameters');
  const params = new Map(graphParams(graph({ loss })).map((p) => [p.attrs.name, p]));
  const nodes = trainable.map((t) => {
    const p = params.get(t.name);
    if (p === undefined) throw new GraphError('trainStep', path, `trainable '${t.name}' is not a parameter of the loss graph`);
    if (p.dtype !== 'float32') throw new GraphError('trainStep', path, `trainable '${t.name}' is ${p.dtype}; only float32 parameters train`);
    return p;
  });
  if (new Set(trainable.map((t) => t.name)).size !== trainable.length) throw new GraphError('trainStep', path, 'a trainable parameter is listed twice');
  const lr = input(trainNames.lr, [], 'float32');
  const step = input(trainNames.step, [], 'float32');
  const k = config.accumulation ?? 1;
  let grads = grad(loss, nodes);
  const outputs: Record<string, Node> = { [trainNames.loss]: loss };
  let applyMask: Node | undefined;
  if (k > 1) {
    const apply = less(scalar(0.5), input(trainNames.apply, [], 'float32')); // bool []
    applyMask = apply;
    const totals = grads.map((g, i) => add(param(trainNames.acc(trainable[i]!.name), nodes[i]!.shape), g));
    totals.forEach((tot, i) => {
      outputs[trainNames.next(trainNames.acc(trainable[i]!.name))] = where(apply, broadcastTo(scalar(0), tot.shape), tot);
    });
    const scale = config.averageAccumulated === false ? 1 : 1 / k;
    grads = totals.map((tot) => (scale === 1 ? tot : mul(tot, scale)));
  }
  let norm: Node;
  if (config.maxGradNorm !== undefined) ({ grads, norm } = clipByGlobalNorm(grads, config.maxGradNorm));
  else norm = globalNorm(grads);
  outputs[trainNames.gradNorm] = norm;
  const upd = adamwUpdate({
    params: nodes,
    grads,
    m: nodes.map((p, i) => param(trainNames.m(trainable[i]!.name), p.shape)),
    v: nodes.map((p, i) => param(trainNames.v(trainable[i]!.name), p.shape)),
    step,
    lr,
    config,
    decayMask: trainable.map((t) => t.decay ?? true),
  });
  trainable.forEach((t, i) => {
    // without `apply` (a micro-batch), the parameter and its moments keep their values
    const keep = (next: Node, old: Node): Node => (applyMask ? where(applyMask, next, old) : next);
    outputs[trainNames.next(t.name)] = keep(upd.params[i]!, nodes[i]!);
    outputs[trainNames.next(trainNames.m(t.name))] = keep(upd.m[i]!, param(trainNames.m(t.name), nodes[i]!.shape));
    outputs[trainNames.next(trainNames.v(t.name))] = keep(upd.v[i]!, param(trainNames.v(t.name), nodes[i]!.shape));
  });
  return graph(outputs);
};

/**
 * `steps` successive runs of a train step (`trainStepGraph`) as one graph, so a backend that
 * keeps its state on the host (onnxruntime-node's CUDA provider) moves it to the device and back
 * once per `steps` updates instead of at every update (Keras' `steps_per_execution`). Step `j`
 * reads its own inputs, named `trainNames.at(name, j)` (`input_ids@1`, `lr@1`, `step@1`, ...;
 * step 0 keeps the plain names), whose symbolic sizes are its own (`T_1`, ...: the batches of one
 * run need not have the same shapes), and the state that step `j - 1` wrote. Outputs: each step's
 * `trainNames.at('loss', j)` and `trainNames.at('grad_norm', j)`, and the state after the last
 * step under the step graph's `:new` names, so `trainState` and `trainInternalOutputs` apply
 * unchanged. With `steps` = 1 it is the step graph itself.
 */
export const unrollTrainSteps = (step: Graph, trainable: readonly Trainable[], config: AdamWConfig, steps: number): Graph => {
  if (!Number.isInteger(steps) || steps < 1) throw new GraphError('unrollTrainSteps', currentPath(), `steps must be a positive integer, got ${steps}`);
  if (steps === 1) return step;
  const stateNames = trainStateNames(trainable, config);
  const outputs: Record<string, Node> = { [trainNames.loss]: step.outputs[trainNames.loss]!, [trainNames.gradNorm]: step.outputs[trainNames.gradNorm]! };
  let prev = step;
  for (let j = 1; j < steps; j++) {
    const written = new Map(stateNames.map((n) => [n, prev.outputs[trainNames.next(n)]!]));
    const copy = renameGraph(step, {
      dim: (s) => `${s}_${j}`,
      input: (name) => trainNames.at(name, j),
      replace: (n) => (n.op === 'param' ? written.get((n as Node<'param'>).attrs.name) : undefined),
    });
    outputs[trainNames.at(trainNames.loss, j)] = copy.outputs[trainNames.loss]!;
    outputs[trainNames.at(trainNames.gradNorm, j)] = copy.outputs[trainNames.gradNorm]!;
    prev = copy;
  }
  for (const n of stateNames) outputs[trainNames.next(n)] = prev.outputs[trainNames.next(n)]!;
  return graph(outputs);
};

const zerosLike = (t: HostTensor): HostTensor => ({ dtype: 'float32', shape: [...t.shape], data: new Float32Array(t.data.length) });

/**
 * The `state` compile option of a train step: each trainable parameter from `init`, its
 * moments (and accumulator) zero, each replaced by its `:new` output after every run.
 */
export const trainState = (trainable: readonly Trainable[], init: Readonly<Record<string, HostTensor>>, config: AdamWConfig): Record<string, StateSpec> =>
  Object.fromEntries(trainable.flatMap(({ name }) => {
    const t = init[name];
    if (t === undefined) throw new Error(`trainState: no initial value for '${name}'`);
    return paramState(name, config).map((n) => [n, { init: n === name ? t : zerosLike(t), next: trainNames.next(n) }] as const);
  }));

/** Outputs of a train step (or of an unrolled run of steps) that only feed state (pass as `internalOutputs`). */
export const trainInternalOutputs = (g: Graph): string[] =>
  Object.keys(g.outputs).filter((k) => k.endsWith(trainNames.next('')));
