/** `@prefix-tuning/core/backend`: the backend interface, host tensors, and the reference evaluator every backend is tested against. */
export type { Backend, Executable, CompileOptions, StateSpec } from './backend.ts';
export { type HostTensor, type TypedData, hostTensor, f32, i32 } from './tensor.ts';
export { evaluate, evaluateE, referenceBackend, bindDims, EvalError, type ReferenceOptions, type Precision } from './reference.ts';
