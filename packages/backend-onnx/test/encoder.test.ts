import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { varintBytes, ProtoWriter } from '../src/onnx/wire.ts';
import { encodeModel, attr, type OnnxModel } from '../src/onnx/model.ts';
import { fixturesDir } from './paths.ts';

/** Decodes a varint (the protobuf spec's algorithm, written independently of the encoder). */
const readVarint = (b: Uint8Array): bigint => {
  let v = 0n;
  for (let i = 0; i < b.length; i++) {
    v |= BigInt(b[i]! & 0x7f) << BigInt(7 * i);
    if ((b[i]! & 0x80) === 0) {
      assert.equal(i, b.length - 1, 'continuation bit set on the last byte only');
      return v;
    }
  }
  throw new Error('unterminated varint');
};

test('varints: spec examples (1 -> 01, 150 -> 96 01, 300 -> ac 02, -1 -> ten bytes)', () => {
  assert.deepEqual([...varintBytes(1)], [0x01]);
  assert.deepEqual([...varintBytes(150)], [0x96, 0x01]);
  assert.deepEqual([...varintBytes(300)], [0xac, 0x02]);
  assert.deepEqual([...varintBytes(-1)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.deepEqual([...varintBytes(0)], [0x00]);
});

test('varints round-trip for every int64 (negatives as two\'s complement)', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (v) => {
      assert.equal(readVarint(varintBytes(v)), BigInt.asUintN(64, v));
    }),
  );
  fc.assert(fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (v) => assert.equal(readVarint(varintBytes(v)), BigInt(v))));
});

test('fields: tag = field * 8 + wire type; strings are length-delimited UTF-8', () => {
  const w = new ProtoWriter().int(1, 10).string(2, 'hé').float(3, 1).message(4, new ProtoWriter().int(1, 2));
  // 08 0a | 12 03 68 c3 a9 | 1d 00 00 80 3f | 22 02 08 02
  assert.deepEqual([...w.finish()], [0x08, 0x0a, 0x12, 0x03, 0x68, 0xc3, 0xa9, 0x1d, 0x00, 0x00, 0x80, 0x3f, 0x22, 0x02, 0x08, 0x02]);
});

/** The model of tools/onnx_golden.py, written with this package's ONNX types. */
const golden = (): OnnxModel => {
  const n = (opType: string, inputs: string[], outputs: string[], name: string, attrs: OnnxModel['graph']['nodes'][number]['attrs'] = {}, domain = '') =>
    ({ opType, domain, name, inputs, outputs, attrs });
  return {
    irVersion: 10,
    opsets: [{ domain: '', version: 21 }, { domain: 'com.microsoft', version: 1 }],
    producerName: 'golden',
    producerVersion: '1',
    graph: {
      name: 'golden',
      nodes: [
        n('Gather', ['table', 'ids'], ['emb'], 'gather', { axis: attr.int(0) }),
        n('Add', ['emb', 'bias'], ['h'], 'add'),
        n('LayerNormalization', ['h', 'gamma', 'beta'], ['n'], 'ln', { axis: attr.int(-1), epsilon: attr.float(1e-5) }),
        n('Gelu', ['n'], ['g'], 'gelu', { approximate: attr.string('tanh') }),
        n('Transpose', ['g'], ['y'], 'tr', { perm: attr.ints([1, 0, 2]) }),
        n('FastGelu', ['n'], ['fg'], 'fastgelu', {}, 'com.microsoft'),
        n('ReduceSum', ['fg', 'axes'], ['s'], 'sum', { keepdims: attr.int(0) }),
        n('Cast', ['mask'], ['mf'], 'cast', { to: attr.int(1) }),
        n('Mul', ['s', 'mf'], ['z'], 'mul'),
      ],
      initializers: [
        { name: 'table', dtype: 'float32', dims: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => i / 8) },
        { name: 'bias', dtype: 'float32', dims: [3], data: Float32Array.from([0.5, -1, 2]) },
        { name: 'gamma', dtype: 'float32', dims: [3], data: Float32Array.from([1, 1.5, 2]) },
        { name: 'beta', dtype: 'float32', dims: [3], data: Float32Array.from([0, 0.25, -0.25]) },
        { name: 'axes', dtype: 'int64', dims: [1], data: BigInt64Array.from([-1n]) },
      ],
      inputs: [
        { name: 'ids', dtype: 'int32', shape: ['B', 'T'] },
        { name: 'mask', dtype: 'bool', shape: ['B', 'T'] },
      ],
      outputs: [
        { name: 'y', dtype: 'float32', shape: ['T', 'B', 3] },
        { name: 'z', dtype: 'float32', shape: ['B', 'T'] },
      ],
    },
  };
};

test('golden: the encoder writes the same bytes as the onnx Python package (tools/onnx_golden.py)', () => {
  const expected = readFileSync(join(fixturesDir, 'onnx', 'golden_tiny.onnx'));
  const actual = encodeModel(golden());
  assert.equal(Buffer.from(actual).toString('hex'), expected.toString('hex'));
});

test('golden: onnxruntime loads the emitted model, reports the dim_params and runs it', async () => {
  const s = await ort.InferenceSession.create(encodeModel(golden()), { logSeverityLevel: 3 });
  assert.deepEqual(s.inputNames, ['ids', 'mask']);
  assert.deepEqual((s.inputMetadata[0] as { shape: unknown }).shape, ['B', 'T']);
  const r = await s.run({
    ids: new ort.Tensor('int32', Int32Array.from([0, 3]), [1, 2]),
    mask: new ort.Tensor('bool', Uint8Array.from([1, 0]), [1, 2]),
  });
  assert.deepEqual(r.y!.dims, [2, 1, 3]);
  assert.deepEqual(r.z!.dims, [1, 2]);
  assert.equal(r.z!.data[1], 0); // masked position
  // row 0 of `table` + bias = [0.5, -0.875, 2.25]; layer-normalised then scaled and shifted
  const h = [0.5, -0.875, 2.25];
  const mean = h.reduce((a, b) => a + b) / 3;
  const sd = Math.sqrt(h.reduce((a, b) => a + (b - mean) ** 2, 0) / 3 + 1e-5);
  const nrm = h.map((v, i) => ((v - mean) / sd) * [1, 1.5, 2][i]! + [0, 0.25, -0.25][i]!);
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const y0 = [r.y!.data[0], r.y!.data[1], r.y!.data[2]] as number[];
  y0.forEach((v, i) => assert.ok(Math.abs(v - gelu(nrm[i]!)) < 1e-5, `y[0,0,${i}] = ${v}, expected ${gelu(nrm[i]!)}`));
  await s.release();
});
