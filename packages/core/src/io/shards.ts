/**
 * Sharded checkpoints: `model.safetensors.index.json` (`{"metadata": {"total_size": N},
 * "weight_map": {"<tensor>": "<shard file>"}}`) and merging the parsed shards into one map.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import type { SafetensorsFile, SafetensorsTensor } from './safetensors.ts';

/** File name of the index of a sharded safetensors checkpoint. */
export const SHARD_INDEX_FILE = 'model.safetensors.index.json';

/** The index of a sharded safetensors checkpoint. */
export const ShardIndex = t.intersection([
  t.type({ weight_map: t.record(t.string, t.string) }),
  t.partial({ metadata: t.union([t.null, t.record(t.string, t.unknown)]) }),
]);
export type ShardIndex = t.TypeOf<typeof ShardIndex>;

/** A shard name must be a plain relative file name: these names become paths and download URLs. */
const safeShardName = (f: string): boolean =>
  f.length > 0 && !f.startsWith('/') && !f.includes('\\') && f.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');

/** Decodes an index JSON value; Left on a bad shape or an unsafe shard file name. */
export const parseShardIndex = (json: unknown): E.Either<string, ShardIndex> => {
  const r = ShardIndex.decode(json);
  if (E.isLeft(r)) return E.left(`${SHARD_INDEX_FILE}: ${PathReporter.report(r).join('; ')}`);
  for (const [name, file] of Object.entries(r.right.weight_map))
    if (!safeShardName(file)) return E.left(`${SHARD_INDEX_FILE}: weight_map['${name}'] names an unsafe shard file '${file}'`);
  return r;
};

/** The distinct shard files of an index, in first-mention order. */
export const shardFiles = (index: ShardIndex): string[] => [...new Set(Object.values(index.weight_map))];

/**
 * Merges parsed shards into one name -> tensor map. Every tensor listed in the weight map must be
 * in the shard it names; a tensor present in two shards is an error. Tensors a shard holds beyond
 * the weight map are kept (transformers loads whole shards too).
 */
export const mergeShards =
  (index: ShardIndex) =>
  (shards: ReadonlyMap<string, SafetensorsFile>): E.Either<string, Map<string, SafetensorsTensor>> => {
    const out = new Map<string, SafetensorsTensor>();
    const from = new Map<string, string>();
    for (const file of shardFiles(index)) {
      const shard = shards.get(file);
      if (shard === undefined) return E.left(`${SHARD_INDEX_FILE}: shard '${file}' was not provided`);
      for (const [name, tensor] of shard.tensors) {
        const prev = from.get(name);
        if (prev !== undefined) return E.left(`tensor '${name}' appears in two shards: '${prev}' and '${file}'`);
        from.set(name, file);
        out.set(name, tensor);
      }
    }
    for (const [name, file] of Object.entries(index.weight_map))
      if (from.get(name) !== file)
        return E.left(`tensor '${name}': the index puts it in '${file}' but ${from.has(name) ? `it is in '${from.get(name)}'` : 'no shard holds it'}`);
    return E.right(out);
  };
