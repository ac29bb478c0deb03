/**
 * @prefix-tuning/core: a pure typed tensor graph (no tensor runtime, no files, no network).
 *
 * The root holds what a user of prefix-tuning needs: models from a config, variants and their
 * injection, adapters, decoding, training, host tensors and the backend interface. The rest is
 * under subpaths (each one module; see README.md): `/graph` (dims, shapes, IR, ops, autodiff),
 * `/backend`, `/models`, `/prefix`, `/decode`, `/train`, `/io`.
 */
// graphs and values
export { type Graph, graph, build, GraphError, type Node, type DType, type Shape, type Dim, Sampler } from './graph.ts';
export { type Backend, type Executable, type CompileOptions, type HostTensor, hostTensor, f32, i32, evaluate, referenceBackend } from './backend/index.ts';
// models
export {
  ModelConfig, type Gpt2Config, type LlamaConfig, type BartConfig, type CausalLmConfig, decodeModelConfig, supportedModelTypes, isEncoderDecoder,
  describeModel, modelTypeName, eosTokenIds, paramsFromCheckpoint, modelParamShapes, causalLmGraph, bartGraph,
} from './models/index.ts';
// variants, injection and adapters
export {
  VariantC, type Variant, flattenVariant, type Injection, type ModelSites, inject, modelSites, injectedTrainGraph, virtualPrefixLength,
  trainingVirtualPositions, bartVirtualPositions, hasInfix, infixLength, initialValues, initialiseInjection,
  storedInjection, storedName, storedParams, storedActivationsGraph, storedFeeds, peftExpressible, serializeAdapter, parseAdapter,
  type LoadedAdapter, type AdapterBytes, causalDecoder, seq2seqDecoder, causalPlan, defineKind, type Kind,
} from './prefix/index.ts';
export { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, parseSafetensors, serializeSafetensors, toFloat32, type TensorToWrite } from './io/index.ts';
// decoding
export {
  generate, type GenerateOptions, type Generated, type DecodeSession, type CausalDecoder, type Seq2SeqDecoder,
  seq2seqGenerateOptions, continuousDecoder, type ContinuousDecoder, type PrefixBank, type GenerationConfig, decodeGenerationConfig,
  mergeGenerationConfigs, resolveGeneration, newTokensFor, rowSeed, hasLogitsProcessors,
} from './decode/index.ts';
// training
export { train, type TrainState, type Batch, parseFiniteAdapter, causalLmPerplexity, seq2seqPerplexity, type AdamWConfig } from './loop/index.ts';
