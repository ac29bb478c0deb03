/**
 * @prefix-tuning/core: a pure typed tensor graph (no tensor runtime, no files, no network).
 */
export * from './types/dim.ts';
export * from './types/dtype.ts';
export * from './types/shape.ts';
export { GraphError } from './errors.ts';
export { type Node, type TypeInfo, withPath, currentPath, apply } from './ir/node.ts';
export { atPath, nodeCount } from './ir/node.ts';
export { print as printGraph, parse as parseGraph } from './ir/print.ts';
export { build } from './ir/build.ts';
export * from './ir/graph.ts';
export { type OpName, type AttrsOf, opNames } from './ops/attrs.ts';
export type { OpDef, RefTensor, RefContext } from './ops/def.ts';
export { opTable, opDef } from './ops/table.ts';
export { decomposition } from './ops/decompose.ts';
export { grad, gradGraph, unbroadcast } from './autodiff/grad.ts';
export { input, param, constant, scalar, iota } from './ops/leaves.ts';
export { neg, exp, log, tanh, erf, sqrt, rsqrt, sin, cos, recip, abs, logicalNot, cast } from './ops/unary.ts';
export { add, sub, mul, div, maximum, minimum, pow, equal, less, lessEqual, logicalAnd, logicalOr, where } from './ops/binary.ts';
export { matmul, mT } from './ops/matmul.ts';
export { reduceSum, reduceMax, reduceMean, argMax } from './ops/reduce.ts';
export { gather, scatterAdd } from './ops/gather.ts';
export { concat, slice, pad, reshape, transpose, broadcastTo } from './ops/layout.ts';
export { softmax, logSoftmax } from './nn/softmax.ts';
export { layerNorm, rmsNorm } from './nn/norm.ts';
export { gelu, silu } from './nn/activations.ts';
export { attention, type AttentionOptions, MASK_VALUE, repeatKv } from './nn/attention.ts';
export { crossEntropy } from './nn/loss.ts';
export type { Backend, Executable, CompileOptions, StateSpec } from './backend/backend.ts';
export { type HostTensor, type TypedData, hostTensor, f32, i32 } from './backend/tensor.ts';
export { evaluate, evaluateE, referenceBackend, bindDims, EvalError, type ReferenceOptions, type Precision } from './backend/reference.ts';
export * from './io/index.ts';
export * from './models/index.ts';
export * from './prefix/index.ts';
export * from './decode/processors.ts';
export * from './decode/search.ts';
export { type Rng, rng, nextU32, split, Sampler } from './random.ts';
export * from './loop/trainer.ts';
