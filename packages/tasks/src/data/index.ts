/** The data half of `@prefix-tuning/tasks`: datasets, linearisations, examples, batches, splits. */
export { DataError, DataErrorKind, formatDataError } from './errors.ts';
export { decodeUtf8, InvalidUtf8 } from './text.ts';
export { LoadOptions, OnMalformed, concatLoaded, mapLoaded, type Loaded } from './loaded.ts';
export {
  DartAnnotation,
  DartEntry,
  E2EInput,
  E2ERow,
  Lexicalisation,
  MRAttribute,
  Pair,
  RefGroup,
  SummaryRow,
  Triple,
  WebNLGEntry,
} from './codecs.ts';
export { loadE2E, loadE2EInputs } from './e2e.ts';
export { loadWebNLGDir, loadWebNLGJson, loadWebNLGXml } from './webnlg.ts';
export { loadDartJson, loadDartXml } from './dart.ts';
export {
  XSumSplitIds,
  loadBbcNews,
  loadBbcNewsDir,
  loadDialogSum,
  loadSamsum,
  loadSamsumJson,
  loadSciTldr,
  loadXSumBbcDir,
  loadXSumJsonl,
  loadXSumSplitIds,
  parseXSumSummaryFile,
} from './summarization.ts';
export { loadJsonArrayWith, loadJsonlWith, loadSeq2SeqJsonl } from './jsonl.ts';
export {
  E2EKeyStyle,
  E2E_OFFICIAL_KEYS,
  TripleOptions,
  TripleStyle,
  lineariseE2E,
  lineariseTriples,
  parseLinearisedE2E,
  parseLinearisedTriples,
  parseMR,
  printMR,
} from './linearise.ts';
export { dartGroups, groupBySource, webnlgGroups } from './references.ts';
export {
  ExampleOptions,
  IGNORE_INDEX,
  buildDecoderExample,
  buildDecoderPrompt,
  buildSeq2SeqExample,
  collateDecoder,
  collatePrompts,
  collateSeq2Seq,
  type DecoderBatch,
  type DecoderExample,
  type Seq2SeqBatch,
  type Seq2SeqExample,
  type TokenizerLike,
} from './examples.ts';
export { BatchOptions, batchIndices, batches } from './batching.ts';
export { makeRng, sampleIndices, shuffle, type Rng } from './rng.ts';
export {
  LOW_DATA_SIZES,
  WEBNLG_SEEN_CATEGORIES,
  WEBNLG_UNSEEN_CATEGORIES,
  XSUM_WITHIN_NEWS_TRAIN_TOPICS,
  bbcNewsToSports,
  lowDataDevSize,
  lowDataSplit,
  webnlgSubset,
  xsumNewsToSports,
  xsumTopic,
  xsumWithinNews,
  type LowDataOptions,
  type TopicSplit,
} from './splits.ts';
export { cacheRoot, datasetCacheDir, sharedDir, type DataEnv } from './paths.ts';
export { DatasetName, DatasetSource, REGISTRY, RemoteArchive, RemoteFile } from './registry.ts';
export { downloadFile, ensureDataset, verifyFile, type DownloadOptions, type EnsureOptions, type FetchLike } from './download.ts';
export { extractTarGz } from './tar.ts';
export { SplitName, TaskName, TaskOptions, loadTaskSplit, type TaskSplit } from './tasks.ts';
