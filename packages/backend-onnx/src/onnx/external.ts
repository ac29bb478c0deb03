/**
 * ONNX external data: large initializers are written to a side file and referenced from the
 * model by (location, offset, length), so models with more than protobuf's 2 GiB of weights
 * (GPT-2 large's float32 weights are 3.1 GB) can still carry their weights as initializers.
 * Offsets are page-aligned so ONNX Runtime may map the file instead of reading it.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import type { OnnxModel, OnnxTensor } from './model.ts';

const ALIGN = 4096;

/**
 * Writes every initializer of at least `minBytes` to `dataPath` (named `location` in the
 * model) and returns the model referencing it. The data file is written sequentially.
 */
export const externalizeInitializers = (m: OnnxModel, dataPath: string, location: string, minBytes = 1024): OnnxModel => {
  const fd = openSync(dataPath, 'w');
  let offset = 0;
  try {
    const initializers = m.graph.initializers.map((t): OnnxTensor => {
      if ('location' in t.data || t.data.byteLength < minBytes) return t;
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const start = Math.ceil(offset / ALIGN) * ALIGN;
      if (start > offset) writeSync(fd, new Uint8Array(start - offset), 0, start - offset, offset);
      for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done, start + done);
      offset = start + bytes.byteLength;
      return { ...t, data: { location, offset: start, length: bytes.byteLength } };
    });
    return { ...m, graph: { ...m.graph, initializers } };
  } finally {
    closeSync(fd);
  }
};
