/**
 * `prefix-tune serve`: one frozen model, the prefix adapters of a folder, an OpenAI-compatible
 * HTTP API with continuous batching (`@prefix-tuning/serve`). Runs until SIGTERM or SIGINT: it
 * then stops accepting, lets running requests finish within `--drain-timeout`, and exits 0.
 */
import { basename, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { createServer, SERVE_DEFAULTS } from '@prefix-tuning/serve';
import { type Command, UsageError } from '../cli.ts';
import { loadModelOrExit } from '../run/model.ts';
import { backendChoice, deviceOption, selectBackend } from '../run/backend.ts';

const D = SERVE_DEFAULTS;

const int = (opts: Readonly<Record<string, unknown>>, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  return v;
};

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a model and its prefix adapters over an OpenAI-compatible HTTP API (continuous batching, streaming)',
  usage: [
    'prefix-tune serve --model DIR|HUB_ID --adapters DIR [--port 8000] [--host 127.0.0.1] [options]',
    '',
    'Every folder of --adapters with a PEFT prefix adapter (adapter_config.json + adapter_model.safetensors)',
    "is a model id of the API; the base model's id is --model-id. Endpoints: POST /v1/completions,",
    'POST /v1/chat/completions (models with a chat template), GET /v1/models, GET /health, GET /metrics,',
    'POST /v1/adapters and DELETE /v1/adapters/{id} (with --admin-key). Requests of all adapters share one',
    'decoding batch. SIGTERM: stop accepting, drain within --drain-timeout, exit 0.',
    'Keys may also come from PREFIX_TUNE_API_KEY and PREFIX_TUNE_ADMIN_KEY (keeps them out of the process list).',
  ].join('\n'),
  options: [
    { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id (decoder-only: GPT-2, Llama)', required: true },
    { name: 'adapters', short: 'a', type: 'string', description: 'folder of adapter folders, one per id (ids: A-Z a-z 0-9 . _ -)', required: true },
    { name: 'model-id', type: 'string', description: "the base model's id in the API (default: the model folder's name or the hub id)" },
    { name: 'port', type: 'number', description: 'TCP port (default: 8000; 0 picks a free one)' },
    { name: 'host', type: 'string', description: 'address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface)' },
    { name: 'max-running', type: 'number', description: `sequences decoded together at most (default: ${D.maxRunning})` },
    { name: 'max-queue', type: 'number', description: `sequences waiting at most; beyond it requests get 429 with Retry-After (default: ${D.maxQueue})` },
    { name: 'max-resident-adapters', type: 'number', description: `adapters kept loaded (LRU; default: ${D.maxResidentAdapters})` },
    { name: 'max-tokens-cap', type: 'number', description: `largest max_tokens accepted (default: ${D.maxTokensCap})` },
    { name: 'body-limit', type: 'number', description: `request body limit in bytes (default: ${D.bodyLimit})` },
    { name: 'request-timeout', type: 'number', description: `seconds a request may run before it is cut with a timeout error (default: ${D.requestTimeout})` },
    { name: 'drain-timeout', type: 'number', description: 'seconds SIGTERM waits for running requests before cancelling them (default: 30)' },
    { name: 'api-key', type: 'string', description: 'require Authorization: Bearer KEY on /v1 (default: PREFIX_TUNE_API_KEY, else open)' },
    { name: 'admin-key', type: 'string', description: 'key of POST/DELETE /v1/adapters (default: PREFIX_TUNE_ADMIN_KEY, else those endpoints are off)' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'no request logs (default: one JSON line per request on stdout)' },
    { name: 'backend', type: 'string', description: 'onnx | tfjs | reference (default: onnx)' },
    deviceOption,
    { name: 'threads', type: 'number', description: 'ONNX Runtime intra-op threads (default: all cores)' },
  ],
  run: async (opts) => {
    const adapters = resolve(String(opts['adapters']));
    if (!existsSync(adapters) || !statSync(adapters).isDirectory()) throw new UsageError(`--adapters ${String(opts['adapters'])}: not a directory`);
    const port = int(opts, 'port', 0, 65535) ?? 8000;
    const host = opts['host'] !== undefined ? String(opts['host']) : '127.0.0.1';
    const o = {
      maxRunning: int(opts, 'max-running', 1, 4096), maxQueue: int(opts, 'max-queue', 1), maxResidentAdapters: int(opts, 'max-resident-adapters', 1, 4096),
      maxTokensCap: int(opts, 'max-tokens-cap', 1), bodyLimit: int(opts, 'body-limit', 64), requestTimeout: int(opts, 'request-timeout', 1),
    };
    const drain = int(opts, 'drain-timeout', 0) ?? 30;
    const apiKey = opts['api-key'] !== undefined ? String(opts['api-key']) : process.env['PREFIX_TUNE_API_KEY'];
    const adminKey = opts['admin-key'] !== undefined ? String(opts['admin-key']) : process.env['PREFIX_TUNE_ADMIN_KEY'];
    for (const [k, v] of [['api-key', apiKey], ['admin-key', adminKey]] as const)
      if (v !== undefined && v.length < 8) throw new UsageError(`--${k} must be at least 8 characters`);
    const backend = await selectBackend(backendChoice(opts));
    const modelArg = String(opts['model']);
    const model = await loadModelOrExit(modelArg);
    const modelId = opts['model-id'] !== undefined ? String(opts['model-id']) : existsSync(modelArg) ? basename(resolve(modelArg)) : modelArg;
    const defined = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    const s = await createServer({
      backend, model, modelId, adapters, ...defined,
      ...(apiKey !== undefined ? { apiKey } : {}), ...(adminKey !== undefined ? { adminKey } : {}),
      warn: (line) => process.stderr.write(`warning: ${line}\n`),
      logger: opts['quiet'] === true ? false : true,
    });
    if (E.isLeft(s)) throw new UsageError(s.left);
    const server = s.right;
    let url: string;
    try {
      url = await server.listen({ port, host });
    } catch (e) {
      await server.close(0);
      throw new UsageError(`cannot listen on ${host}:${port}: ${(e as Error).message}`);
    }
    process.stderr.write(`serving ${modelId} and the adapters of ${adapters} at ${url} (${backend.engine})\n`);
    await new Promise<void>((done) => {
      const stop = (sig: string) => {
        process.stderr.write(`${sig}: draining (at most ${drain} s)\n`);
        void server.close(drain * 1000).then(done, done);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    process.stderr.write('stopped\n');
    return 0;
  },
};
