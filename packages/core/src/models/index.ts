/**
 * Models: GPT-2, Llama and BART as core graphs built from a Hugging Face config.json, and the
 * map from a loaded checkpoint to their parameters.
 */
export {
  decodeModelConfig, eosTokenIds, formatErrors, supportedModelTypes, isEncoderDecoder, modelTypeName,
  ModelConfig, Gpt2Config, LlamaConfig, BartConfig, Gpt2ConfigJson, LlamaConfigJson, BartConfigJson, Activation,
  type CausalLmConfig,
} from './config.ts';
export {
  type KeyValue, type PastKeyValues, type CausalLmInputs, type CausalLmOutputs,
  type AttentionSite, type SiteGeometry, type SiteWeight, type ModelSites, type ModelFamily, extendKeyMask, positionRange, toKeyMask, lastPosition,
} from './common.ts';
export { families, familyOf, modelSites, describeModel, positionCount, encodesLeadingSpace, lastLearnedPosition } from './family.ts';
export { gpt2Forward, gpt2TokenEmbeddings, gpt2Sites, gpt2LastPosition, gpt2Family, gpt2ConfigJson, initGpt2Params, asGpt2Config } from './gpt2.ts';
export { llamaForward, llamaTokenEmbeddings, llamaSites, llamaFamily, ropeInvFreq, ropeCosSin, applyRope } from './llama.ts';
export {
  bartEncoderForward, bartDecoderForward, bartTokenEmbeddings, bartSites, bartFamily, BART_POSITION_OFFSET,
  type BartEncoderInputs, type BartEncoderOutputs, type BartDecoderInputs, type BartDecoderOutputs,
} from './bart.ts';
export {
  causalLmForward, causalLmTokenEmbeddings, causalLmKvGeometry, causalLmLoss, causalLmGraph, prefillGraph, stepGraph,
  pastInputs, presentOutputs, type KvGeometry, type CausalLmGraphOptions,
} from './causal.ts';
export {
  bartGraph, bartEncoderGraph, bartPrefillGraph, bartStepGraph, bartKvGeometry, shiftTokensRight, seq2seqLoss,
  type BartGraphOptions,
} from './seq2seq.ts';
export {
  paramsFromCheckpoint, modelParamShapes, parameterCount, checkpointPrefix, type Checkpoint, type CheckpointTensor,
} from './checkpoint.ts';
