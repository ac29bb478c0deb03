/**
 * Kernels registered for the 'wasm' backend, all working in place on the wasm heap:
 *
 * - UnsortedSegmentSum (tfjs-backend-wasm 4.22 lacks it): `out[ids[i], ...] += x[i, ...]`. The
 *   lowering of `scatterAdd` (the gradient of an embedding lookup) uses it, and so does tfjs's
 *   gradient of `tf.gather`. Segment ids outside [0, numSegments) are dropped, as TensorFlow
 *   does; sums accumulate in float64 per output element and are rounded once.
 * - PrefixTuningBatchMatMul: [n, M, K] @ [n, K, N] as n 2-D products. The wasm BatchMatMul
 *   kernel reaches XNNPACK only for a batch of one (otherwise it runs a scalar loop, ~1
 *   GFLOP/s); this kernel registers each batch entry of the operands and of the output as a
 *   tensor *view* of the heap (no copy) and runs that fast path per entry, then unregisters
 *   the views (which also deletes XNNPACK's operator for the entry). Attention's products
 *   (B·H entries of [T, Dh] @ [Dh, Tk] and the like) go through it.
 * - PrefixTuningSelect: `cond ? a : b` with NumPy broadcasting of all three operands. tf.where
 *   broadcasts through tf.broadcastTo (the Tile kernel, ~100 ns per element); this kernel
 *   reads each operand through its broadcast strides instead (a causal mask [T, Tk] against
 *   scores [B, H, T, Tk] is never expanded).
 * - PrefixTuningBroadcastTo: materialises a broadcast (any dtype) with the same strided loop,
 *   instead of the Tile kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  dataIdMap: { get(dataId: unknown): { id: number; memoryOffset: number } };
  dataIdNextNumber: number;
  wasm: {
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
}

/** Kernel names of this package's own kernels (invoked through `tf.engine().runKernel`). */
export const BATCH_MATMUL = 'PrefixTuningBatchMatMul';
export const SELECT = 'PrefixTuningSelect';
export const BROADCAST = 'PrefixTuningBroadcastTo';

let wasmBatchMatMul: ((...args: unknown[]) => void) | undefined;

const batchMatMul: KernelConfig = {
  kernelName: BATCH_MATMUL,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const be = backend as unknown as WasmHeapBackend;
    wasmBatchMatMul ??= be.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
    const [n, M, K] = a.shape as [number, number, number];
    const [nb, K2, N] = b.shape as [number, number, number];
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length !== 3 || b.shape.length !== 3 || nb !== n || K2 !== K)
      throw new Error(`${BATCH_MATMUL}: expected float32 [n,M,K] @ [n,K,N], got ${a.dtype}[${a.shape}] @ ${b.dtype}[${b.shape}]`);
    const out = be.makeOutput([n, M, N], 'float32');
    const aOff = be.dataIdMap.get(a.dataId).memoryOffset;
    const bOff = be.dataIdMap.get(b.dataId).memoryOffset;
    const oOff = be.dataIdMap.get(out.dataId).memoryOffset;
    const aShape = new Uint8Array(new Int32Array([1, M, K]).buffer);
    const bShape = new Uint8Array(new Int32Array([1, K, N]).buffer);
    for (let i = 0; i < n; i++) {
      const ids = [be.dataIdNextNumber++, be.dataIdNextNumber++, be.dataIdNextNumber++] as const;
      be.wasm.tfjs.registerTensor(ids[0], M * K, aOff + 4 * i * M * K);
      be.wasm.tfjs.registerTensor(ids[1], K * N, bOff + 4 * i * K * N);
      be.wasm.tfjs.registerTensor(ids[2], M * N, oOff + 4 * i * M * N);
      try {
        wasmBatchMatMul!(ids[0], aShape, 3, ids[1], bShape, 3, false, false, ids[2]);
      } finally {
        for (const id of ids) be.wasm.tfjs.disposeData(id); // views: nothing to free on the heap
      }
    }
    return out;
  },
};

/** Strides of `shape` read through a broadcast to `out` (0 on broadcast axes), right-aligned. */
const broadcastStrides = (shape: readonly number[], out: readonly number[]): number[] => {
  const r = out.length;
  const lead = r - shape.length;
  const st = new Array<number>(r).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[lead + i] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i]!;
  }
  return st;
};

const broadcastTo: KernelConfig = {
  kernelName: BROADCAST,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { shape } = attrs as unknown as { shape: number[] };
    const be = backend as unknown as WasmHeapBackend;
    const out = be.makeOutput([...shape], x.dtype);
    const X = be.typedArrayFromHeap(x);
    const O = be.typedArrayFromHeap(out);
    const r = shape.length;
    const inner = r === 0 ? 1 : shape[r - 1]!;
    const xs = broadcastStrides(x.shape, shape);
    if (r > 0 && xs[r - 1] === 1) {
      // contiguous rows: copy a row at a time
      forEachRow(shape, x.shape, (o, i) => O.set(X.subarray(i, i + inner), o));
    } else if (r > 0) {
      forEachRow(shape, x.shape, (o, i) => O.fill(X[i]!, o, o + inner));
    } else O[0] = X[0]!;
    return out;
  },
};

/** Each row (last axis) of `outShape` with the offset of the operand row it reads under broadcasting: `f(outOffset, inputOffset)`. */
const forEachRow = (outShape: readonly number[], shape: readonly number[], f: (o: number, i: number) => void): void => {
  const size = tf.util.sizeFromShape([...outShape]);
  const r = outShape.length;
  if (size === 0) return;
  const st = broadcastStrides(shape, outShape);
  const inner = outShape[r - 1]!;
  const idx = new Array<number>(r - 1).fill(0);
  let base = 0;
  for (let o = 0; o < size; o += inner) {
    f(o, base);
    for (let d = r - 2; d >= 0; d--) {
      idx[d]++;
      base += st[d]!;
      if (idx[d]! < outShape[d]!) break;
      base -= st[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
};

type Heap = Float32Array | Int32Array | Uint8Array;

/**
 * One row of a select: `O[o + j] = C[c + j·ic] ? A[a + j·ia] : B[b + j·ib]`, with the common
 * stride patterns (each 0 or 1) as separate tight loops.
 */
const selectRow = (O: Heap, o: number, n: number, C: Heap, c: number, ic: number, A: Heap, a: number, ia: number, B: Heap, b: number, ib: number): void => {
  if (ic === 1 && ia === 1 && ib === 0) {
    const y = B[b]!;
    for (let j = 0; j < n; j++) O[o + j] = C[c + j] ? A[a + j]! : y;
  } else if (ic === 1 && ia === 0 && ib === 1) {
    const x = A[a]!;
    for (let j = 0; j < n; j++) O[o + j] = C[c + j] ? x : B[b + j]!;
  } else if (ic === 1 && ia === 1 && ib === 1) {
    for (let j = 0; j < n; j++) O[o + j] = C[c + j] ? A[a + j]! : B[b + j]!;
  } else if (ic === 0) {
    if (C[c]) for (let j = 0; j < n; j++) O[o + j] = A[a + j * ia]!;
    else for (let j = 0; j < n; j++) O[o + j] = B[b + j * ib]!;
  } else for (let j = 0; j < n; j++) O[o + j] = C[c + j * ic] ? A[a + j * ia]! : B[b + j * ib]!;
};

const select: KernelConfig = {
  kernelName: SELECT,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { condition, a, b } = inputs as { condition: TensorInfo; a: TensorInfo; b: TensorInfo };
    const be = backend as unknown as WasmHeapBackend;
    if (condition.dtype !== 'bool' || a.dtype !== b.dtype) throw new Error(`${SELECT}: expected bool condition and equal branch dtypes`);
    const outShape = tf.broadcast_util.assertAndGetBroadcastShape(tf.broadcast_util.assertAndGetBroadcastShape(condition.shape, a.shape), b.shape);
    const out = be.makeOutput(outShape, a.dtype);
    const size = tf.util.sizeFromShape(outShape);
    if (size === 0) return out;
    const C = be.typedArrayFromHeap(condition);
    const A = be.typedArrayFromHeap(a);
    const B = be.typedArrayFromHeap(b);
    const O = be.typedArrayFromHeap(out);
    const r = outShape.length;
    if (r === 0) {
      O[0] = C[0] ? A[0]! : B[0]!;
      return out;
    }
    const sc = broadcastStrides(condition.shape, outShape);
    const sa = broadcastStrides(a.shape, outShape);
    const sb = broadcastStrides(b.shape, outShape);
    const inner = outShape[r - 1]!;
    const [ic, ia, ib] = [sc[r - 1]!, sa[r - 1]!, sb[r - 1]!];
    const idx = new Array<number>(r - 1).fill(0);
    let oc = 0;
    let oa = 0;
    let ob = 0;
    for (let o = 0; o < size; o += inner) {
      selectRow(O, o, inner, C, oc, ic, A, oa, ia, B, ob, ib);
      // odometer over the outer axes
      for (let d = r - 2; d >= 0; d--) {
        idx[d]++;
        oc += sc[d]!;
        oa += sa[d]!;
        ob += sb[d]!;
        if (idx[d]! < outShape[d]!) break;
        oc -= sc[d]! * outShape[d]!;
        oa -= sa[d]! * outShape[d]!;
        ob -= sb[d]! * outShape[d]!;
        idx[d] = 0;
      }
    }
    return out;
  },
};

const unsortedSegmentSum: KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = attrs as unknown as { numSegments: number };
    const be = backend as unknown as WasmHeapBackend;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum (wasm): unsupported dtype ${x.dtype}`);
    const k = segmentIds.shape.length;
    if (!segmentIds.shape.every((d, i) => d === x.shape[i]))
      throw new Error(`UnsortedSegmentSum (wasm): segment ids [${segmentIds.shape}] must be a prefix of x's shape [${x.shape}]`);
    const n = tf.util.sizeFromShape(segmentIds.shape);
    const inner = tf.util.sizeFromShape(x.shape.slice(k));
    const outShape = [numSegments, ...x.shape.slice(k)];
    const out = be.makeOutput(outShape, x.dtype);
    // views after the allocation (which may grow the heap and detach older views)
    const xs = be.typedArrayFromHeap(x);
    const ids = be.typedArrayFromHeap(segmentIds);
    const os = be.typedArrayFromHeap(out);
    const acc = new Float64Array(numSegments * inner);
    for (let i = 0; i < n; i++) {
      const s = ids[i]!;
      if (!(s >= 0 && s < numSegments)) continue;
      const from = i * inner;
      const to = s * inner;
      for (let q = 0; q < inner; q++) acc[to + q] += xs[from + q]!;
    }
    os.set(acc);
    return out;
  },
};

let registered = false;

/** Registers the missing wasm kernels (idempotent). */
export const registerWasmKernels = (): void => {
  if (registered) return;
  registered = true;
  for (const k of [unsortedSegmentSum, batchMatMul, select, broadcastTo]) if (tf.getKernel(k.kernelName, 'wasm') === undefined) tf.registerKernel(k);
};
