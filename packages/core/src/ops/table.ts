/**
 * The op table: every op's full record. Typed so that an op missing from the table, or a
 * record missing a field, is a compile error.
 */
import type { OpName } from './attrs.ts';
import type { OpDef } from './def.ts';
import { inputDef, paramDef, constantDef, iotaDef } from './leaves.ts';
import { negDef, expDef, logDef, tanhDef, erfDef, sqrtDef, rsqrtDef, sinDef, cosDef, recipDef, absDef, logicalNotDef, castDef } from './unary.ts';
import {
  addDef, subDef, mulDef, divDef, maximumDef, minimumDef, powDef, equalDef, lessDef, lessEqualDef, logicalAndDef, logicalOrDef, whereDef,
} from './binary.ts';
import { matmulDef } from './matmul.ts';
import { reduceSumDef, reduceMaxDef, reduceMeanDef, argMaxDef } from './reduce.ts';
import { gatherDef, scatterAddDef } from './gather.ts';
import { concatDef, sliceDef, padDef, reshapeDef, transposeDef, broadcastToDef } from './layout.ts';
import { softmaxDef, logSoftmaxDef } from '../nn/softmax.ts';
import { layerNormDef, rmsNormDef } from '../nn/norm.ts';
import { geluDef, siluDef } from '../nn/activations.ts';
import { attentionDef } from '../nn/attention.ts';
import { crossEntropyDef } from '../nn/loss.ts';

export type OpTable = { readonly [K in OpName]: OpDef<K> };

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
  softmax: softmaxDef, logSoftmax: logSoftmaxDef, layerNorm: layerNormDef, rmsNorm: rmsNormDef,
  gelu: geluDef, silu: siluDef, attention: attentionDef, crossEntropy: crossEntropyDef,
} as const satisfies OpTable;

/** The record of an op by name. */
export const opDef = <K extends OpName>(op: K): OpDef<K> => (opTable as OpTable)[op];
