/**
 * `@prefix-tuning/core/graph`: building graphs — symbolic dims and shapes, the IR (hash-consed
 * nodes, graphs, printer/parser), the op table, primitives and composites, neural-network
 * blocks, autodiff, and the seeded random streams.
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
export { opTable, opDef, compositeOps, type CompositeOp, type PrimitiveOp } from './table/ops.ts';
export { decomposition } from './table/decompose.ts';
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
export { type Rng, rng, nextU32, split, Sampler } from './random.ts';
