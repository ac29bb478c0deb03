/** The pure checkpoint-format functions hub builds on (core/io), imported through one file. */
export * from '@prefix-tuning/core';
