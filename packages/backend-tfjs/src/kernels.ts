/**
 * Kernels that @tensorflow/tfjs-backend-wasm 4.22 lacks and our graphs (or tfjs's own tf.grad,
 * used as a cross-check) need, registered for the 'wasm' backend:
 *
 * - UnsortedSegmentSum: `out[ids[i], ...] += x[i, ...]`. The lowering of `scatterAdd` (the
 *   gradient of an embedding lookup) uses it, and so does tfjs's gradient of `tf.gather`.
 *   Written over the wasm heap in place (no copy out of the heap); segment ids outside
 *   [0, numSegments) are dropped, as TensorFlow does; sums accumulate in float64 per output
 *   element and are rounded once.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

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
  for (const k of [unsortedSegmentSum]) if (tf.getKernel(k.kernelName, 'wasm') === undefined) tf.registerKernel(k);
};
