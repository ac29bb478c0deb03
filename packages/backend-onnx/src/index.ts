/**
 * @prefix-tuning/backend-onnx: lowers @prefix-tuning/core graphs to ONNX and runs them on
 * onnxruntime-node (CPU; CUDA when its provider libraries are installed).
 */
export { onnxBackend, toOnnx, onnxRuntimeVersion, cudaAvailable, cudaProviderPath, providersOf, type OnnxBackendOptions, type ExecutionProvider } from './backend.ts';
export { type FusionOptions, defaultFusions } from './lower/table.ts';
export { OPSET, IR_VERSION } from './lower/graph.ts';
