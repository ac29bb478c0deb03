/** The backend conformance laws (core's test/support/conformance.ts) on ONNX Runtime, the same suite TensorFlow.js runs. */
import { onnxBackend } from '../src/index.ts';
import { executableContract } from '../../core/test/support/conformance.ts';

const backend = onnxBackend({ intraOpNumThreads: 1 });
executableContract('onnx', () => backend);
