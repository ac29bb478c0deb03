/**
 * The pure checkpoint-format functions hub builds on (core/io). Imported through this one file
 * so that the import path can move to `@prefix-tuning/core` once core's index re-exports io.
 */
export * from '../../core/src/io/index.ts';
