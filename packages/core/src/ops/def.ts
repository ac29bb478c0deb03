/**
 * One record per op (JAX's shape rule + transpose rule kept together, micrograd's
 * `_backward` beside the forward): attribute codec, arity, shape/dtype rule, VJP, reference
 * kernel, and for composites their decomposition into primitives. The op table in
 * `table/ops.ts` is typed so that a missing field is a compile error.
 */
import type { Node, OpSignature } from '../ir/node.ts';
import type { OpName, AttrsOf } from './attrs.ts';
import type { DType } from '../types/dtype.ts';

/** Arguments of a VJP: the node, its inputs, and the cotangent of its output. */
export interface VjpArgs<K extends OpName> {
  readonly node: Node<K>;
  readonly inputs: readonly Node[];
  readonly ct: Node;
  /**
   * Which inputs need a cotangent (those on a path to a requested gradient). A VJP should
   * build nothing for the others (return `undefined`): a gradient w.r.t. a prefix must not
   * construct the frozen weights' gradients. Absent means all inputs.
   */
  readonly wants?: readonly boolean[];
}

/**
 * A VJP builds, for each input, the graph of its cotangent, or `undefined` for a symbolic
 * zero (integer/bool inputs, inputs the op is constant in, inputs not in `wants`). It need
 * not reduce broadcasts: autodiff sums cotangents back to each input's shape in one place.
 */
export type Vjp<K extends OpName> = (args: VjpArgs<K>) => ReadonlyArray<Node | undefined>;

/** A reference-evaluator value: float dtypes are held in Float64Array (or Float32Array). */
export interface RefTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float64Array | Float32Array | Int32Array | Uint8Array;
}

export interface RefContext {
  /** The node's output shape with every symbolic dim evaluated. */
  readonly outShape: readonly number[];
  /** Sizes of symbolic dims. */
  readonly env: Readonly<Record<string, number>>;
  /** Values for `input` and `param` leaves, by name. */
  readonly leaves: (kind: 'input' | 'param', name: string) => RefTensor;
  /** Float precision of the evaluation. */
  readonly precision: 'f32' | 'f64';
}

/** `f()` when input `i` needs a cotangent (per `wants`), otherwise a symbolic zero. */
export const wanted = (wants: readonly boolean[] | undefined, i: number, f: () => Node): Node | undefined =>
  wants === undefined || wants[i] === true ? f() : undefined;

/** Wraps a VJP so that an integer application of the op (int add, int where) gives symbolic zeros. */
export const floatOnly = <K extends OpName>(vjp: Vjp<K>): Vjp<K> => (args) =>
  args.node.dtype === 'float32' ? vjp(args) : args.inputs.map(() => undefined);

export type RefKernel<K extends OpName> = (inputs: readonly RefTensor[], node: Node<K>, ctx: RefContext) => RefTensor;

export interface OpDef<K extends OpName> extends OpSignature<K> {
  readonly kind: 'leaf' | 'primitive' | 'composite';
  readonly vjp: Vjp<K> | 'viaDecomposition';
  readonly ref: RefKernel<K> | 'viaDecomposition';
  /** Composites: the defining decomposition into primitives (the spec). */
  readonly decompose?: (inputs: readonly Node[], attrs: AttrsOf<K>) => Node;
}
