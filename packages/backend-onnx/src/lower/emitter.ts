/**
 * The ONNX graph under construction while a core graph is lowered: node emission with unique
 * value names, deduplicated constant initializers, and runtime values of symbolic dims.
 *
 * A symbolic dim (`B`, `T`, `B*T`, `P+T`) has no compile-time value; its runtime value is read
 * from the shape of a graph input that declares it (`Shape(ids, start=1, end=2)` for `T` of
 * `ids [B,T]`) and combined with int64 arithmetic for derived dims. Each is emitted once.
 */
import type { Dim, DType, Shape } from '@prefix-tuning/core';
import { dimToString, isConcrete } from '@prefix-tuning/core/graph';
import { attr, type OnnxAttr, type OnnxData, type OnnxDType, type OnnxNode, type OnnxTensor } from '../onnx/model.ts';

/** Where a symbol's runtime value can be read: axis `axis` of graph input `input`. */
export interface DimSource {
  readonly input: string;
  readonly axis: number;
}

export interface EmitOptions {
  readonly domain?: string;
  /** Number of outputs (default 1). */
  readonly outputs?: number;
  /** Explicit output names (default: fresh names). */
  readonly names?: readonly string[];
}

const monomials = (d: Dim): [string[], number][] =>
  typeof d === 'number' ? [[[], d]] : [...d.terms.entries()].map(([m, c]) => [m === '' ? [] : m.split('*'), c]);

export const onnxDType = (d: DType): OnnxDType => d;

export class Emitter {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly dimCache = new Map<string, string>();
  private readonly shapeCache = new Map<string, string>();
  private counter = 0;
  /** Domains used besides the default one. */
  readonly domains = new Set<string>();
  /** Model path of the core node being lowered (`h[3].attn`): prefixes node names, for profiles. */
  path = '';

  constructor(private readonly dimSources: ReadonlyMap<string, DimSource>) {}

  /** A fresh value name. */
  fresh(hint = 'v'): string {
    return `${hint}_${this.counter++}`;
  }

  /** Emits one node and returns its output names. */
  emitN(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, OnnxAttr>> = {}, opts: EmitOptions = {}): string[] {
    const n = opts.names?.length ?? opts.outputs ?? 1;
    const outputs = opts.names ? [...opts.names] : Array.from({ length: n }, () => this.fresh(opType));
    const domain = opts.domain ?? '';
    if (domain !== '') this.domains.add(domain);
    this.nodes.push({ opType, domain, name: `${this.path === '' ? '' : `${this.path}/`}${opType}_${this.nodes.length}`, inputs: [...inputs], outputs, attrs });
    return outputs;
  }

  /** Emits a single-output node. */
  emit(opType: string, inputs: readonly string[], attrs: Readonly<Record<string, OnnxAttr>> = {}, opts: EmitOptions = {}): string {
    return this.emitN(opType, inputs, attrs, opts)[0]!;
  }

  /** Adds a named initializer (a bound weight). */
  initializer(t: OnnxTensor): void {
    this.initializers.push(t);
  }

  /** A constant tensor (deduplicated by dtype, dims and values). */
  constant(dtype: OnnxDType, dims: readonly number[], values: readonly (number | bigint)[]): string {
    const key = `${dtype}[${dims.join(',')}]${values.join(',')}`;
    const found = this.constCache.get(key);
    if (found !== undefined) return found;
    const name = this.fresh('const');
    let data: OnnxData;
    switch (dtype) {
      case 'float32': data = Float32Array.from(values, Number); break;
      case 'float64': data = Float64Array.from(values, Number); break;
      case 'int32': data = Int32Array.from(values, Number); break;
      case 'int64': data = BigInt64Array.from(values, (v) => BigInt(v)); break;
      case 'bool': case 'uint8': data = Uint8Array.from(values, (v) => (Number(v) !== 0 ? 1 : 0)); break;
      default: throw new Error(`constant: unsupported dtype ${dtype}`);
    }
    this.initializers.push({ name, dtype, dims: [...dims], data });
    this.constCache.set(key, name);
    return name;
  }

  /** An int64 1-D constant (shapes, axes, pads). */
  ints(values: readonly number[]): string {
    return this.constant('int64', [values.length], values);
  }

  /** A scalar constant of a dtype. */
  scalar(dtype: OnnxDType, v: number): string {
    return this.constant(dtype, [], [v]);
  }

  /** The runtime value of a dim as an int64 tensor of shape [1]. */
  dim(d: Dim): string {
    if (isConcrete(d)) return this.ints([d]);
    const key = dimToString(d);
    const found = this.dimCache.get(key);
    if (found !== undefined) return found;
    let sum: string | undefined;
    for (const [vars, coef] of monomials(d)) {
      let term: string | undefined;
      for (const v of vars) {
        const s = this.symbol(v);
        term = term === undefined ? s : this.emit('Mul', [term, s]);
      }
      if (term === undefined) term = this.ints([coef]);
      else if (coef !== 1) term = this.emit('Mul', [term, this.ints([coef])]);
      sum = sum === undefined ? term : this.emit('Add', [sum, term]);
    }
    const out = sum ?? this.ints([0]);
    this.dimCache.set(key, out);
    return out;
  }

  private symbol(name: string): string {
    const key = `sym:${name}`;
    const found = this.dimCache.get(key);
    if (found !== undefined) return found;
    const src = this.dimSources.get(name);
    if (src === undefined)
      throw new Error(`symbolic dim '${name}' has no source: no graph input or parameter declares it as one of its axes`);
    const out = this.emit('Shape', [src.input], { start: attr.int(src.axis), end: attr.int(src.axis + 1) });
    this.dimCache.set(key, out);
    return out;
  }

  /** A 1-D int64 tensor holding a shape's runtime value (constant when concrete). */
  shape(s: Shape): string {
    if (s.every(isConcrete)) return this.ints(s as number[]);
    const key = s.map(dimToString).join(',');
    const found = this.shapeCache.get(key);
    if (found !== undefined) return found;
    const out = this.emit('Concat', s.map((d) => this.dim(d)), { axis: attr.int(0) });
    this.shapeCache.set(key, out);
    return out;
  }

  /**
   * A Reshape target for `to` given the operand's shape `from`: 0 where the dim is unchanged
   * at the same position, -1 for one remaining symbolic dim, so that most reshapes need no
   * runtime shape arithmetic.
   */
  reshapeTarget(from: Shape, to: Shape): string {
    const marks = to.map((d, i) => (!isConcrete(d) && i < from.length && dimToString(from[i]!) === dimToString(d) ? 0 : d));
    const symbolic = marks.filter((d) => !isConcrete(d));
    if (symbolic.length <= 1) return this.ints(marks.map((d) => (isConcrete(d) ? d : -1)));
    return this.shape(to);
  }
}
