/** Shared pieces of op definitions: operand coercion and dtype checks. */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import type { DType } from '../types/dtype.ts';
import { constantDef } from './leaves.ts';

/** A node, or a JS number promoted to a scalar constant of the other operand's dtype. */
export type Operand = Node | number;

export const scalarLike = (v: number, dtype: DType): Node =>
  apply(constantDef, [], { shape: [], dtype, values: [v] });

/** Promotes numbers in a binary operation to scalars of the node operand's dtype. */
export const coerce2 = (a: Operand, b: Operand): [Node, Node] => {
  if (typeof a === 'number' && typeof b === 'number') return [scalarLike(a, 'float32'), scalarLike(b, 'float32')];
  if (typeof a === 'number') return [scalarLike(a, (b as Node).dtype), b as Node];
  if (typeof b === 'number') return [a, scalarLike(b, a.dtype)];
  return [a, b];
};

export const requireFloat = (xs: readonly TypeInfo[]): string | undefined =>
  xs.every((x) => x.dtype === 'float32') ? undefined : `expected float32 operands, got ${xs.map((x) => x.dtype).join(', ')}`;
