/**
 * Loading a model directory's weights: `model.safetensors`, or `model.safetensors.index.json`
 * plus its shards. Everything is read into memory and validated before anything is returned.
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import {
  parseSafetensors, parseShardIndex, shardFiles, mergeShards, toFloat32Tensors, serializeSafetensors, SHARD_INDEX_FILE,
  type SafetensorsFile, type SafetensorsTensor, type Float32Tensor, type TensorToWrite,
} from './core-io.ts';
import { exists, readBytes, readJson, writeFileAtomic } from './files.ts';

/** File name of a single-file safetensors checkpoint. */
export const SINGLE_FILE = 'model.safetensors';

/** A directory's checkpoint: all tensors (zero-copy views) and the files they came from. */
export interface Checkpoint {
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  /** `__metadata__` of the first file (the single file, or the first shard). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly files: readonly string[];
}

const readSafetensors = async (path: string): Promise<E.Either<string, SafetensorsFile>> => {
  const bytes = await readBytes(path);
  if (E.isLeft(bytes)) return bytes;
  const f = parseSafetensors(bytes.right);
  return E.isLeft(f) ? E.left(`${path}: ${f.left}`) : f;
};

/** Loads the weights of a model directory (sharded index preferred when present). */
export const loadCheckpoint = async (dir: string): Promise<E.Either<string, Checkpoint>> => {
  const indexPath = join(dir, SHARD_INDEX_FILE);
  if (await exists(indexPath)) {
    const json = await readJson(indexPath);
    if (E.isLeft(json)) return json;
    const index = parseShardIndex(json.right);
    if (E.isLeft(index)) return E.left(`${indexPath}: ${index.left}`);
    const files = shardFiles(index.right);
    const shards = new Map<string, SafetensorsFile>();
    for (const f of files) {
      const shard = await readSafetensors(join(dir, f));
      if (E.isLeft(shard)) return shard;
      shards.set(f, shard.right);
    }
    const merged = mergeShards(index.right)(shards);
    if (E.isLeft(merged)) return E.left(`${indexPath}: ${merged.left}`);
    return E.right({ tensors: merged.right, metadata: shards.get(files[0]!)?.metadata ?? {}, files: files.map((f) => join(dir, f)) });
  }
  const single = join(dir, SINGLE_FILE);
  if (!(await exists(single))) return E.left(`${dir}: no ${SINGLE_FILE} or ${SHARD_INDEX_FILE} (only safetensors checkpoints are supported)`);
  const f = await readSafetensors(single);
  if (E.isLeft(f)) return f;
  return E.right({ tensors: f.right.tensors, metadata: f.right.metadata, files: [single] });
};

/** Loads a model directory's weights as float32 tensors (F16/BF16 converted exactly). */
export const loadFloat32Weights = async (dir: string): Promise<E.Either<string, Map<string, Float32Tensor>>> => {
  const ck = await loadCheckpoint(dir);
  if (E.isLeft(ck)) return ck;
  const ts = toFloat32Tensors(ck.right.tensors.values());
  return E.isLeft(ts) ? E.left(`${dir}: ${ts.left}`) : ts;
};

/** Reads `config.json` of a model directory as plain JSON (the model's codec decodes it). */
export const loadModelConfig = (dir: string): Promise<E.Either<string, unknown>> => readJson(join(dir, 'config.json'));

/** Writes tensors to one safetensors file atomically. */
export const saveSafetensors = (
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite>,
  metadata: Readonly<Record<string, string>> = { format: 'pt' },
): Promise<E.Either<string, void>> => writeFileAtomic(path, serializeSafetensors(tensors, metadata));
