/**
 * @prefix-tuning/backend-tfjs: lowers @prefix-tuning/core graphs to TensorFlow.js and runs
 * them on tfjs-node-gpu, tfjs-node, WebAssembly (XNNPACK) or plain JavaScript, whichever loads
 * first (or the engine you name). A drop-in replacement for `onnxBackend`.
 */
export { tfjsBackend, loadTfjsBackend, type TfjsBackend, type TfjsBackendOptions } from './backend.ts';
export { selectEngine, engineNames, EngineUnavailable, type EngineName, type EngineInfo, type EngineOptions } from './engine.ts';
export type { TfjsExecutable } from './executable.ts';
export type { BatchedMatmul } from './lower.ts';
