/**
 * @prefix-tuning/serve: one frozen model, many prefix adapters, continuous batching across
 * users, behind an OpenAI-compatible HTTP API.
 */
export { createServer, SERVE_DEFAULTS, type Server, type ServeOptions } from './server.ts';
export { validAdapterId } from './registry.ts';
export { errorBody, type ApiError } from './errors.ts';
