/**
 * @prefix-tuning/hub: the Node.js edges of the library: model directories, checkpoint and
 * adapter files, tokenizers, Hugging Face hub downloads into a local cache, and the llama2.c
 * converter.
 */
export { loadCheckpoint, loadFloat32Weights, loadModelConfig, saveSafetensors, SINGLE_FILE, type Checkpoint } from './checkpoint.ts';
export { loadAdapterDir, saveAdapterDir, type Adapter } from './adapter.ts';
export { loadTokenizer, makeTokenizer, TokenizerConfig, type TextTokenizer } from './tokenizer.ts';
export { readBytes, readJson, writeFileAtomic } from './files.ts';
export { convertLlama2c, CONVERTED_FILES } from './llama2c.ts';
export { resolveModel, cacheDirFor, cacheRoot, REQUIRED_FILES, OPTIONAL_FILES, type ResolveOptions } from './resolve.ts';
export { downloadFile, resolveUrl, consoleReporter, type ProgressEvent, type DownloadContext, type DownloadFailure } from './download.ts';
export { loadModel, type LoadedModel } from './model.ts';
export { weightsDigest, checkAdapterBase } from './digest.ts';
export { trainBpe, countWords, bpeTokenizerJson, bpeTokenizerConfig, byteToUnicode, GPT2_SPLIT, type BpeTrainOptions, type BpeVocabulary } from './bpe-train.ts';
export { readGenerationConfig, modelGenerationConfig, GENERATION_ID_KEYS, specialIds, taskEos, taskTokenizer, prependSpace, maxPositions, type SpecialIds } from './generation.ts';
export { generator, cutPrompt, checkIds, textPieces, byteTokenIds, GenerationError, type Generator, type GeneratorOptions, type Decoding, type Output, type StreamEvent } from './generator.ts';
export { LOG_FILE, StepRecordC, EpochRecordC, LogRecordC, parseLog, readLog, truncateLog, appendLog, type StepRecord, type EpochRecord, type LogRecord } from './run-log.ts';
export {
  RUN_MANIFEST_FILE, RunManifestC, saveRunCheckpoint, hasRunCheckpoint, loadRunCheckpoint, directoryStorage, memoryStorage, type RunManifest, type RunStorage,
} from './run-checkpoint.ts';
export { makeBatches, batchesDigest, dropoutFeeds, rowsOf, modelDigest, describeVariant, paramCount, type BatchingOptions } from './batches.ts';
export {
  tune, planTune, TuneError, type TuneArgs, type TuneData, type TuneSettings, type TuneHooks, type TuneRunOptions, type TuneResult, type TunePlan, type TuneProgress,
} from './tune.ts';
