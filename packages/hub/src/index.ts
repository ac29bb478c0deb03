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
