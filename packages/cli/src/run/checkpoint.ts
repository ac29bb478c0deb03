/** Training checkpoints on disk: the library's crash-safe run checkpoints (hub run-checkpoint.ts) under the CLI's names. */
export {
  RUN_MANIFEST_FILE as MANIFEST_FILE, RunManifestC as ManifestC, saveRunCheckpoint as saveCheckpoint, hasRunCheckpoint as hasCheckpoint,
  loadRunCheckpoint as loadCheckpoint, type RunManifest as Manifest,
} from '@prefix-tuning/hub';
