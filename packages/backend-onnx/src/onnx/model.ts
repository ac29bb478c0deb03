/**
 * A small typed mirror of the ONNX protobuf schema (onnx.proto, IR version 10) and its
 * encoder: ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto.
 * Field numbers are those of onnx/onnx.proto; fields are written in field-number order and
 * repeated scalars unpacked (proto2), so the bytes equal those of the `onnx` Python package's
 * serialization of the same model. Only what this backend emits is modelled.
 */
import { ProtoWriter } from './wire.ts';

/** ONNX element types used here, with their TensorProto.DataType codes. */
export const onnxDTypeCode = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 } as const;
export type OnnxDType = keyof typeof onnxDTypeCode;

/** Raw little-endian element storage for each ONNX dtype. */
export type OnnxData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

/** A tensor value: inline raw bytes, or a reference to an external data file. */
export interface OnnxTensor {
  readonly name: string;
  readonly dtype: OnnxDType;
  readonly dims: readonly number[];
  readonly data: OnnxData | { readonly location: string; readonly offset: number; readonly length: number };
}

/** A dim of a value's declared shape: a size, or a named symbolic size (dim_param). */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  readonly name: string;
  readonly dtype: OnnxDType;
  /** undefined: unknown rank. */
  readonly shape?: readonly OnnxDim[];
}

export type OnnxAttr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'tensor'; readonly value: OnnxTensor };

/** Attribute constructors (ONNX distinguishes int from float attributes). */
export const attr = {
  int: (value: number): OnnxAttr => ({ kind: 'int', value }),
  float: (value: number): OnnxAttr => ({ kind: 'float', value }),
  string: (value: string): OnnxAttr => ({ kind: 'string', value }),
  ints: (value: readonly number[]): OnnxAttr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): OnnxAttr => ({ kind: 'floats', value }),
  tensor: (value: OnnxTensor): OnnxAttr => ({ kind: 'tensor', value }),
};

export interface OnnxNode {
  readonly opType: string;
  /** '' (the default ai.onnx domain) or e.g. 'com.microsoft'. */
  readonly domain: string;
  readonly name: string;
  /** '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, OnnxAttr>>;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly initializers: readonly OnnxTensor[];
  /** Types and shapes of intermediate values (GraphProto.value_info). */
  readonly valueInfo?: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graph: OnnxGraph;
}

const attrTypeCode = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

const bytesOf = (d: OnnxData): Uint8Array => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** TensorProto: dims=1, data_type=2, name=8, raw_data=9, external_data=13, data_location=14. */
export const encodeTensor = (t: OnnxTensor): ProtoWriter => {
  const w = new ProtoWriter().repeatedInts(1, t.dims).int(2, onnxDTypeCode[t.dtype]).string(8, t.name);
  if ('location' in t.data) {
    const entry = (k: string, v: string) => new ProtoWriter().string(1, k).string(2, v);
    w.message(13, entry('location', t.data.location))
      .message(13, entry('offset', String(t.data.offset)))
      .message(13, entry('length', String(t.data.length)))
      .int(14, 1);
  } else {
    if (t.dtype === 'bool' && !(t.data instanceof Uint8Array)) throw new Error(`tensor ${t.name}: bool data must be a Uint8Array`);
    w.bytes(9, bytesOf(t.data));
  }
  return w;
};

/** AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, type=20. */
const encodeAttr = (name: string, a: OnnxAttr): ProtoWriter => {
  const w = new ProtoWriter().string(1, name);
  switch (a.kind) {
    case 'float': w.float(2, a.value); break;
    case 'int': w.int(3, a.value); break;
    case 'string': w.string(4, a.value); break;
    case 'tensor': w.message(5, encodeTensor(a.value)); break;
    case 'floats': w.repeatedFloats(7, a.value); break;
    case 'ints': w.repeatedInts(8, a.value); break;
  }
  return w.int(20, attrTypeCode[a.kind]);
};

/** NodeProto: input=1, output=2, name=3, op_type=4, attribute=5, domain=7. */
const encodeNode = (n: OnnxNode): ProtoWriter => {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name !== '') w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, a] of Object.entries(n.attrs).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) w.message(5, encodeAttr(k, a));
  if (n.domain !== '') w.string(7, n.domain);
  return w;
};

/**
 * ValueInfoProto { name=1, type=2 }; TypeProto { tensor_type=1 }; TypeProto.Tensor
 * { elem_type=1, shape=2 }; TensorShapeProto { dim=1 }; Dimension { dim_value=1, dim_param=2 }.
 */
const encodeValueInfo = (v: OnnxValueInfo): ProtoWriter => {
  const tensorType = new ProtoWriter().int(1, onnxDTypeCode[v.dtype]);
  if (v.shape !== undefined) {
    const shape = new ProtoWriter();
    for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
    tensorType.message(2, shape);
  }
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
};

/** GraphProto: node=1, name=2, initializer=5, input=11, output=12, value_info=13. */
const encodeGraph = (g: OnnxGraph): ProtoWriter => {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  for (const v of g.inputs) w.message(11, encodeValueInfo(v));
  for (const v of g.outputs) w.message(12, encodeValueInfo(v));
  for (const v of g.valueInfo ?? []) w.message(13, encodeValueInfo(v));
  return w;
};

/** ModelProto: ir_version=1, producer_name=2, producer_version=3, graph=7, opset_import=8 (OperatorSetIdProto { domain=1, version=2 }). */
export const encodeModel = (m: OnnxModel): Uint8Array => {
  const w = new ProtoWriter().int(1, m.irVersion).string(2, m.producerName).string(3, m.producerVersion).message(7, encodeGraph(m.graph));
  for (const o of m.opsets) {
    w.message(8, new ProtoWriter().string(1, o.domain).int(2, o.version));
  }
  return w.finish();
};
