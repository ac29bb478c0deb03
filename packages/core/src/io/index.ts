/**
 * Checkpoint formats as pure byte functions (no files, no network): safetensors, sharded
 * checkpoints, Hugging Face naming, PEFT prefix-tuning adapters, and the llama2.c converter.
 */
export {
  parseSafetensors, serializeSafetensors, toFloat32, toIntegers, dtypeSize, shapeSize, SafetensorsDtype, TensorInfo, MAX_HEADER_SIZE,
  type SafetensorsFile, type SafetensorsTensor, type TensorToWrite,
} from './safetensors.ts';
export { halfBitsToFloat, floatToHalfBits, floatToBf16Bits } from './half.ts';
export {
  toFloat32Tensors, stripPrefix, transpose2d, isGpt2Conv1dWeight, mapWeights, formatShape, HF_BASE_PREFIXES,
  type Float32Tensor, type TensorMap, type WeightMapSpec,
} from './tensors.ts';
export { ShardIndex, SHARD_INDEX_FILE, parseShardIndex, shardFiles, mergeShards } from './shards.ts';
export {
  PrefixTuningConfig, parseAdapterConfig, makePrefixTuningConfig, serializeAdapterConfig, prefixShape, parseAdapterWeights,
  serializeAdapterWeights, splitPrefix, joinPrefix, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, PREFIX_EMBEDDINGS_KEY,
} from './peft.ts';
export {
  parseLlama2cModel, parseLlama2cTokenizer, permuteRopeRows, llamaHfConfig, llamaHfTensors, sentencePiecesOfLlama2c,
  mergesFromScores, llamaTokenizerJson, llamaTokenizerConfig, llama2cToHf,
  type Llama2cConfig, type Llama2cWeights, type Llama2cModel, type Llama2cPiece, type SentencePiece, type LlamaHfDir,
} from './llama2c.ts';
