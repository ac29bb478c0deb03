/**
 * The op table: every op's full record, assembled here, above both the primitives (ops/) and
 * the composites (nn/, which build their decompositions from primitives), so that neither
 * directory imports the other's table. Typed so that an op missing from the table, or a record
 * missing a field, is a compile error. The composite ops, which backends may fuse or expand, are
 * the keys of the composites' part of the table (`CompositeOp`, `compositeOps`), not a list
 * kept beside it.
 */
import type { OpName } from '../ops/attrs.ts';
import type { OpDef } from '../ops/def.ts';
import { inputDef, paramDef, constantDef, iotaDef } from '../ops/leaves.ts';
import { negDef, expDef, logDef, tanhDef, erfDef, sqrtDef, rsqrtDef, sinDef, cosDef, recipDef, absDef, logicalNotDef, castDef } from '../ops/unary.ts';
import {
  addDef, subDef, mulDef, divDef, maximumDef, minimumDef, powDef, equalDef, lessDef, lessEqualDef, logicalAndDef, logicalOrDef, whereDef,
} from '../ops/binary.ts';
import { matmulDef } from '../ops/matmul.ts';
import { reduceSumDef, reduceMaxDef, reduceMeanDef, argMaxDef } from '../ops/reduce.ts';
import { gatherDef, scatterAddDef } from '../ops/gather.ts';
import { concatDef, sliceDef, padDef, reshapeDef, transposeDef, broadcastToDef } from '../ops/layout.ts';
import { softmaxDef, logSoftmaxDef } from '../nn/softmax.ts';
import { layerNormDef, rmsNormDef } from '../nn/norm.ts';
import { geluDef, siluDef } from '../nn/activations.ts';
import { attentionDef } from '../nn/attention.ts';
import { crossEntropyDef } from '../nn/loss.ts';

export type OpTable = { readonly [K in OpName]: OpDef<K> };

/** The composites: ops defined by a decomposition into other ops (record kind 'composite'). */
const composites = {
  softmax: softmaxDef, logSoftmax: logSoftmaxDef, layerNorm: layerNormDef, rmsNorm: rmsNormDef,
  gelu: geluDef, silu: siluDef, attention: attentionDef, crossEntropy: crossEntropyDef,
} as const;

/** The ops a backend may lower fused or expand through their decomposition. */
export type CompositeOp = keyof typeof composites;
/** Every other op: leaves and primitives, which a backend must lower itself. */
export type PrimitiveOp = Exclude<OpName, CompositeOp>;
/** The composite ops' names, in the table's order. */
export const compositeOps: readonly CompositeOp[] = Object.freeze(Object.keys(composites) as CompositeOp[]);

export const opTable = {
  input: inputDef, param: paramDef, constant: constantDef, iota: iotaDef,
  neg: negDef, exp: expDef, log: logDef, tanh: tanhDef, erf: erfDef, sqrt: sqrtDef, rsqrt: rsqrtDef,
  sin: sinDef, cos: cosDef, recip: recipDef, abs: absDef, logicalNot: logicalNotDef, cast: castDef,
  add: addDef, sub: subDef, mul: mulDef, div: divDef, maximum: maximumDef, minimum: minimumDef, pow: powDef,
  equal: equalDef, less: lessDef, lessEqual: lessEqualDef, logicalAnd: logicalAndDef, logicalOr: logicalOrDef, where: whereDef,
  matmul: matmulDef,
  reduceSum: reduceSumDef, reduceMax: reduceMaxDef, reduceMean: reduceMeanDef, argMax: argMaxDef,
  gather: gatherDef, scatterAdd: scatterAddDef,
  concat: concatDef, slice: sliceDef, pad: padDef, reshape: reshapeDef, transpose: transposeDef, broadcastTo: broadcastToDef,
  ...composites,
} as const satisfies OpTable;

/** The record of an op by name. */
export const opDef = <K extends OpName>(op: K): OpDef<K> => (opTable as OpTable)[op];
