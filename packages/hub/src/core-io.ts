/** The pure checkpoint-format functions hub builds on (core's `/io` subpath), imported through one file. */
export * from '@prefix-tuning/core/io';
