/**
 * Training checkpoints on disk, crash-safe: the loop's `TrainState` (trainable parameters,
 * optimizer moments, the best-on-dev parameters) in a safetensors file, and a JSON manifest
 * holding the counters, what the run was (config, model and data digests) and the tensor
 * file's name and SHA-256.
 *
 * Write order: the tensor file under a fresh name (temp file, fsync, rename), then the manifest
 * the same way, then older tensor files are removed. A `kill -9` at any moment leaves a
 * manifest naming a complete tensor file: the old checkpoint or the new one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { parseSafetensors, serializeSafetensors, toFloat32, type HostTensor, type TrainState, type TensorToWrite } from '@prefix-tuning/core';
import { writeFileAtomic } from './files.ts';

export const RUN_MANIFEST_FILE = 'checkpoint.json';

const Count = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'Count');

/** The manifest (`checkpoint.json`). */
export const RunManifestC = t.type({
  format: t.literal(1),
  /** The resolved run configuration (see run/config.ts); compared on `--resume`. */
  run: t.UnknownRecord,
  /** Digests of the model weights and of the training batches. */
  model: t.type({ digest: t.string, description: t.string }),
  data: t.type({ digest: t.string, train: Count, dev: Count }),
  counters: t.type({
    step: Count, epoch: Count, batchInEpoch: Count, bestDevLoss: t.union([t.number, t.null]), badEpochs: Count, done: t.boolean,
  }),
  tensors: t.type({ file: t.string, sha256: t.string, bytes: Count }),
  /** The workflow's own bookkeeping (elapsed time, partial log aggregates). */
  extra: t.UnknownRecord,
  written_at: t.string,
}, 'CheckpointManifest');
export type RunManifest = t.TypeOf<typeof RunManifestC>;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const toWrite = (x: HostTensor): TensorToWrite => {
  if (x.dtype === 'float32') return { dtype: 'F32', shape: x.shape, data: x.data as Float32Array };
  if (x.dtype === 'int32') {
    const d = x.data as Int32Array;
    return { dtype: 'I32', shape: x.shape, bytes: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
  }
  throw new RangeError(`checkpoint: unsupported state dtype ${x.dtype}`);
};

/** Writes a checkpoint into `dir` (see the module comment for the crash-safety argument). */
export const saveRunCheckpoint = async (
  dir: string,
  state: TrainState,
  meta: Pick<RunManifest, 'run' | 'model' | 'data' | 'extra'>,
): Promise<void> => {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [n, x] of Object.entries(state.tensors)) tensors[`state/${n}`] = toWrite(x);
  if (state.best) for (const [n, x] of Object.entries(state.best)) tensors[`best/${n}`] = toWrite(x);
  const bytes = serializeSafetensors(tensors, { format: 'prefix-tune-checkpoint' });
  const file = `state-${state.step}-${randomBytes(4).toString('hex')}.safetensors`;
  const w = await writeFileAtomic(join(dir, file), bytes);
  if (E.isLeft(w)) throw new Error(w.left);
  const manifest: RunManifest = {
    format: 1, ...meta,
    counters: { step: state.step, epoch: state.epoch, batchInEpoch: state.batchInEpoch, bestDevLoss: state.bestDevLoss, badEpochs: state.badEpochs, done: state.done },
    tensors: { file, sha256: sha256(bytes), bytes: bytes.length },
    written_at: new Date().toISOString(),
  };
  const m = await writeFileAtomic(join(dir, RUN_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  if (E.isLeft(m)) throw new Error(m.left);
  // the manifest now names the new file: older tensor files and stray temp files can go
  for (const f of await readdir(dir))
    if (f !== file && (/^state-.*\.safetensors$/.test(f) || /^\.(state-|checkpoint\.json).*\.tmp$/.test(f))) await rm(join(dir, f), { force: true });
};

/** True when `dir` holds a checkpoint manifest. */
export const hasRunCheckpoint = (dir: string): boolean => existsSync(join(dir, RUN_MANIFEST_FILE));

/** Reads and verifies a checkpoint. Left says what is wrong (corrupt JSON, missing or damaged tensor file). */
export const loadRunCheckpoint = async (dir: string): Promise<E.Either<string, { manifest: RunManifest; state: TrainState }>> => {
  const mpath = join(dir, RUN_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(mpath, 'utf8');
  } catch (e) {
    return E.left(`${mpath}: cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left(`${mpath}: corrupt checkpoint: not valid JSON (${(e as Error).message})`);
  }
  const m = RunManifestC.decode(json);
  if (E.isLeft(m)) return E.left(`${mpath}: corrupt checkpoint: ${PathReporter.report(m).join('; ')}`);
  const manifest = m.right;
  const tpath = join(dir, manifest.tensors.file);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(tpath));
  } catch (e) {
    return E.left(`${tpath}: corrupt checkpoint: the tensor file named by ${RUN_MANIFEST_FILE} cannot be read (${(e as Error).message})`);
  }
  if (bytes.length !== manifest.tensors.bytes || sha256(bytes) !== manifest.tensors.sha256)
    return E.left(`${tpath}: corrupt checkpoint: ${bytes.length} bytes with SHA-256 ${sha256(bytes).slice(0, 12)}…, but ${RUN_MANIFEST_FILE} recorded ${manifest.tensors.bytes} bytes with ${manifest.tensors.sha256.slice(0, 12)}…`);
  const file = parseSafetensors(bytes);
  if (E.isLeft(file)) return E.left(`${tpath}: corrupt checkpoint: ${file.left}`);
  const tensors: Record<string, HostTensor> = {};
  const best: Record<string, HostTensor> = {};
  for (const [name, x] of file.right.tensors) {
    let value: HostTensor;
    if (x.dtype === 'I32') value = { dtype: 'int32', shape: [...x.shape], data: new Int32Array(x.bytes.slice().buffer) };
    else {
      const f = toFloat32(x);
      if (E.isLeft(f)) return E.left(`${tpath}: ${f.left}`);
      value = { dtype: 'float32', shape: [...x.shape], data: f.right };
    }
    if (name.startsWith('state/')) tensors[name.slice(6)] = value;
    else if (name.startsWith('best/')) best[name.slice(5)] = value;
  }
  const c = manifest.counters;
  return E.right({
    manifest,
    state: {
      step: c.step, epoch: c.epoch, batchInEpoch: c.batchInEpoch, bestDevLoss: c.bestDevLoss, badEpochs: c.badEpochs, done: c.done,
      tensors, best: Object.keys(best).length > 0 ? best : null,
    },
  });
};

/** What a training workflow needs of its checkpoint store (`tune`'s storage): a directory, a database, memory. */
export interface RunStorage {
  /** The latest checkpoint, undefined when there is none; Left says why it cannot be read. */
  readonly load: () => Promise<E.Either<string, { readonly manifest: RunManifest; readonly state: TrainState } | undefined>>;
  /** Stores a checkpoint; a failure rejects and leaves the previous one intact. */
  readonly save: (state: TrainState, meta: Pick<RunManifest, 'run' | 'model' | 'data' | 'extra'>) => Promise<void>;
  /** Where the checkpoints are, for messages. */
  readonly where: string;
}

/** A run's checkpoints in a directory (crash-safe: see the module comment). */
export const directoryStorage = (dir: string): RunStorage => ({
  where: dir,
  load: async () => (hasRunCheckpoint(dir) ? loadRunCheckpoint(dir) : E.right(undefined)),
  save: (state, meta) => saveRunCheckpoint(dir, state, meta),
});

/** Checkpoints kept in memory (tests, short jobs): the last one saved. */
export const memoryStorage = (): RunStorage & { readonly saved: number } => {
  let last: { manifest: RunManifest; state: TrainState } | undefined;
  let saved = 0;
  return {
    where: 'memory',
    get saved() { return saved; },
    load: async () => E.right(last),
    save: async (state, meta) => {
      saved++;
      const c = state;
      last = {
        state,
        manifest: {
          format: 1, ...meta,
          counters: { step: c.step, epoch: c.epoch, batchInEpoch: c.batchInEpoch, bestDevLoss: c.bestDevLoss, badEpochs: c.badEpochs, done: c.done },
          tensors: { file: 'memory', sha256: '', bytes: 0 }, written_at: new Date().toISOString(),
        },
      };
    },
  };
};
