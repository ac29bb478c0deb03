/**
 * The HTTP server (fastify): OpenAI's `POST /v1/completions` and `POST /v1/chat/completions`
 * (JSON or server-sent events ending `data: [DONE]`), `GET /v1/models`, `GET /health`,
 * `GET /metrics` (Prometheus), and `POST /v1/adapters` / `DELETE /v1/adapters/{id}` behind an
 * admin key. Every error is OpenAI's JSON error shape with a message that says what was wrong.
 *
 * Limits: the body size (413), invalid UTF-8 or JSON (400), prompt length against the model's
 * positions less the adapter's prefix (400), `max_tokens` above `maxTokensCap` (400), a full
 * queue (429 with `Retry-After`), a per-request deadline (408; a stream gets an error event),
 * an optional API key (`Authorization: Bearer`, 401). A client that disconnects frees its rows
 * at the next decoding step.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '@prefix-tuning/core';
import type { LoadedModel } from '@prefix-tuning/hub';
import { AdapterLoadC, ChatRequestC, CompletionRequestC, decodeBody, prompts, sampling, type ChatRequest, type CompletionRequest } from './api.ts';
import { loadChatTemplate, type ChatTemplate } from './chat.ts';
import { makeEngine, type Delta, type Engine, type Finished, type Prepared, type Sampling } from './engine.ts';
import { badRequest, errorBody, type ApiError } from './errors.ts';
import { makeMetrics, type Metrics } from './metrics.ts';
import { validAdapterId } from './registry.ts';

export interface ServeOptions {
  readonly backend: Backend;
  readonly model: LoadedModel;
  /** The name clients use for the base model (`model` field). */
  readonly modelId: string;
  /** The adapter folder: one PEFT-format adapter directory per id. */
  readonly adapters: string;
  readonly maxRunning?: number;
  readonly maxQueue?: number;
  readonly maxResidentAdapters?: number;
  readonly maxTokensCap?: number;
  /** Request body limit in bytes. */
  readonly bodyLimit?: number;
  /** Seconds a request may run. */
  readonly requestTimeout?: number;
  readonly apiKey?: string;
  readonly adminKey?: string;
  /** Startup warnings (a generation config key not implemented). */
  readonly warn?: (line: string) => void;
  /** fastify's logger option (pino): true for JSON request logs on stdout. */
  readonly logger?: boolean | Record<string, unknown>;
}

export const SERVE_DEFAULTS = { maxRunning: 32, maxQueue: 256, maxResidentAdapters: 16, maxTokensCap: 512, bodyLimit: 1 << 20, requestTimeout: 300 } as const;

export interface Server {
  readonly app: FastifyInstance;
  readonly engine: Engine;
  readonly metrics: Metrics;
  /** Listens; resolves to the base URL. */
  listen(opts: { port: number; host: string }): Promise<string>;
  /** Stops accepting, lets running requests finish within `drainMs`, cancels the rest, closes. */
  close(drainMs?: number): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);

/** Key comparison in constant time (for keys of the same length). */
const sameKey = (a: string, b: string): boolean => {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Logprobs of a completion choice (OpenAI's legacy shape). */
interface CompletionLogprobs { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[] | null; text_offset: number[] }

export const createServer = async (o: ServeOptions): Promise<E.Either<string, Server>> => {
  const lim = { ...SERVE_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as typeof SERVE_DEFAULTS & ServeOptions;
  const eng = await makeEngine(o.backend, o.model, o.modelId, {
    maxRunning: lim.maxRunning, maxQueue: lim.maxQueue, maxResidentAdapters: lim.maxResidentAdapters, adapters: o.adapters, maxTokensCap: lim.maxTokensCap,
    ...(o.warn ? { warn: o.warn } : {}),
  });
  if (E.isLeft(eng)) return eng;
  const engine = eng.right;
  const tpl = loadChatTemplate(o.model.dir);
  if (E.isLeft(tpl)) return tpl;
  const chatTemplate: ChatTemplate | undefined = tpl.right;
  const metrics = makeMetrics({ queue: () => engine.waiting, running: () => engine.running, adapters: () => engine.registry.resident });
  let draining = false;

  const app = Fastify({
    logger: o.logger ?? false, bodyLimit: lim.bodyLimit, return503OnClosing: true,
    // the router's own errors (a bad URL encoding, a parameter too long) in OpenAI's shape too
    frameworkErrors: (err, _req, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 400;
      void (reply as FastifyReply).code(status >= 400 && status < 500 ? status : 400).send(errorBody({ status, type: 'invalid_request_error', message: err.message.slice(0, 300), code: (err as { code?: string }).code ?? null }));
    },
  });

  // JSON bodies: strict UTF-8 (invalid bytes are a 400, not replacement characters)
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body as Buffer);
    } catch {
      done(Object.assign(new Error('the request body is not valid UTF-8'), { statusCode: 400 }), undefined);
      return;
    }
    try {
      done(null, text.trim() === '' ? undefined : JSON.parse(text));
    } catch (e) {
      done(Object.assign(new Error(`the request body is not valid JSON (${(e as Error).message})`), { statusCode: 400 }), undefined);
    }
  });

  const send = (reply: FastifyReply, e: ApiError) => {
    if (e.retryAfter !== undefined) void reply.header('retry-after', String(e.retryAfter));
    return reply.code(e.status).send(errorBody(e));
  };
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) reply.log.error({ err }, 'internal error');
    const message = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the request body is larger than this server's limit of ${lim.bodyLimit} bytes`
      : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `unsupported content type '${String(_req.headers['content-type'])}': send application/json`
      : err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'the request body is empty: send a JSON object'
      : status >= 500 ? 'internal server error' : err.message;
    return send(reply, { status, type: status >= 500 ? 'server_error' : 'invalid_request_error', message, code: err.code ?? null });
  });
  app.setNotFoundHandler((req, reply) => send(reply, { status: 404, type: 'not_found_error', message: `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`, code: 'unknown_url' }));

  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });
  app.addHook('onRequest', async (req, reply) => {
    const url = req.url.split('?')[0]!;
    if (!url.startsWith('/v1/')) return;
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const is = (key: string | undefined) => bearer !== undefined && key !== undefined && sameKey(bearer, key);
    if (url.startsWith('/v1/adapters')) {
      if (o.adminKey === undefined) return send(reply, { status: 403, type: 'permission_error', message: 'the adapter admin endpoints are disabled: start the server with --admin-key', code: 'admin_disabled' });
      if (!is(o.adminKey)) return send(reply, { status: 401, type: 'authentication_error', message: 'this endpoint needs the admin key (Authorization: Bearer <admin key>)', code: 'invalid_admin_key' });
      return;
    }
    if (o.apiKey !== undefined && !is(o.apiKey) && !is(o.adminKey))
      return send(reply, { status: 401, type: 'authentication_error', message: bearer === undefined ? "You didn't provide an API key (Authorization: Bearer <key>)" : 'Incorrect API key provided', code: 'invalid_api_key' });
  });

  app.get('/health', async () => ({ status: draining ? 'draining' : 'ok', model: o.modelId, running: engine.running, waiting: engine.waiting, resident_adapters: engine.registry.resident }));
  app.get('/metrics', async (_req, reply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()));
  app.get('/v1/models', async () => {
    const created = now();
    const ids = await engine.registry.list();
    return { object: 'list', data: [o.modelId, ...ids.filter((i) => i !== o.modelId)].map((id) => ({ id, object: 'model', created, owned_by: id === o.modelId ? 'base' : 'adapter' })) };
  });

  app.post('/v1/adapters', async (req, reply) => {
    const b = decodeBody(AdapterLoadC, req.body);
    if (E.isLeft(b)) return send(reply, b.left);
    const r = await engine.registry.acquire(b.right.id);
    if (E.isLeft(r)) return send(reply, r.left);
    r.right.release();
    return { id: b.right.id, object: 'adapter', loaded: true, resident: engine.registry.residentIds() };
  });
  app.delete<{ Params: { id: string } }>('/v1/adapters/:id', async (req, reply) => {
    const id = req.params.id;
    if (!validAdapterId(id)) return send(reply, badRequest(`invalid adapter id: ids are 1-128 characters of A-Z a-z 0-9 . _ - (no '..')`, 'id', 'invalid_model_id'));
    const r = engine.registry.unload(id);
    if (E.isLeft(r)) return send(reply, r.left);
    return { id, object: 'adapter', deleted: true };
  });

  /** Runs the sequences of one request: prompts × n choices, streamed or collected. */
  const complete = async (req: FastifyRequest, reply: FastifyReply, kind: 'text' | 'chat', body: CompletionRequest | ChatRequest, texts: (string | number[])[], s: Sampling & { n: number }) => {
    if (draining) return send(reply, { status: 503, type: 'server_error', message: 'the server is shutting down', code: 'shutting_down' });
    const rows = texts.length * s.n;
    if (rows > lim.maxQueue) return send(reply, badRequest(`the request asks for ${rows} sequences (prompts × n); this server queues at most ${lim.maxQueue}`, 'n'));
    if (s.numBeams === 1 && rows > engine.queueRoom())
      return send(reply, { status: 429, type: 'rate_limit_error', message: `the queue is full (${engine.waiting} sequences waiting, at most ${lim.maxQueue}); retry after a second`, code: 'queue_full', retryAfter: 1 });
    const m = await engine.model(body.model);
    if (E.isLeft(m)) return send(reply, m.left);
    const started = Date.now();
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ac.abort(); }, lim.requestTimeout * 1000);
    // a client that goes away frees its rows
    reply.raw.on('close', () => { if (!reply.raw.writableFinished) ac.abort(); });
    try {
      const encoded: Prepared[] = [];
      for (const [i, p] of texts.entries()) {
        const e = engine.prepare(p, m.right.adapter, s, texts.length > 1 ? `prompt[${i}]` : kind === 'chat' ? 'messages' : 'prompt');
        if (E.isLeft(e)) return send(reply, e.left);
        encoded.push(e.right);
      }
      const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '')}`;
      const created = now();
      const promptTokens = encoded.reduce((a, p) => a + p.ids.length, 0);
      const stream = body.stream === true;
      const tokenIds = body.return_token_ids === true;
      const includeUsage = body.stream_options?.include_usage === true;
      const write = (x: unknown) => { if (!reply.raw.writableEnded && !reply.raw.destroyed) reply.raw.write(`data: ${JSON.stringify(x)}\n\n`); };
      const logprobsOf = (d: Delta, offset: number) => {
        if (s.logprobs === undefined) return null;
        if (kind === 'chat')
          return { content: d.tokens.map((t) => ({ token: t.text, logprob: t.logprob, bytes: [...Buffer.from(t.text)], top_logprobs: Object.entries(t.top ?? {}).map(([token, logprob]) => ({ token, logprob, bytes: [...Buffer.from(token)] })) })) };
        const offs: number[] = [];
        let at = offset;
        for (const t of d.tokens) { offs.push(at); at += t.text.length; }
        return { tokens: d.tokens.map((t) => t.text), token_logprobs: d.tokens.map((t) => t.logprob), top_logprobs: s.logprobs > 0 ? d.tokens.map((t) => t.top ?? {}) : null, text_offset: offs } satisfies CompletionLogprobs;
      };
      const chunk = (index: number, text: string, finish: string | null, lp: unknown, first = false) =>
        kind === 'chat'
          ? { id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index, delta: first ? { role: 'assistant', content: text } : finish !== null && text === '' ? {} : { content: text }, logprobs: lp, finish_reason: finish }] }
          : { id, object: 'text_completion', created, model: body.model, choices: [{ index, text, logprobs: lp, finish_reason: finish }] };
      if (stream) {
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        if (kind === 'chat') for (let i = 0; i < rows; i++) write(chunk(i, '', null, null, true));
      }
      let firstToken = true;
      const collected: { text: string; lp: CompletionLogprobs & { content?: unknown[] }; lpChat: unknown[] }[] = Array.from({ length: rows }, () => ({ text: '', lp: { tokens: [], token_logprobs: [], top_logprobs: s.logprobs ? [] : null, text_offset: [] }, lpChat: [] }));
      const results: Finished[] = new Array(rows);
      const jobs: Promise<void>[] = [];
      encoded.forEach((p, pi) => {
        if (s.numBeams > 1) {
          jobs.push(engine.beams(p, m.right.adapter, s, s.n, ac.signal).then((fs) => {
            fs.forEach((f, j) => {
              const idx = pi * s.n + j;
              results[idx] = f;
              collected[idx]!.text = f.text;
              if (stream) { write(chunk(idx, f.text, null, null)); }
            });
          }));
          return;
        }
        for (let j = 0; j < s.n; j++) {
          const idx = pi * s.n + j;
          let last = Date.now();
          jobs.push(engine.generate(p, m.right.adapter, s, idx, (d) => {
            const t = Date.now();
            if (firstToken) { firstToken = false; metrics.ttft.observe((t - started) / 1000); } else metrics.interToken.observe((t - last) / 1000);
            last = t;
            const c = collected[idx]!;
            const lp = logprobsOf(d, c.text.length);
            c.text += d.text;
            if (lp && kind === 'text') {
              const l = lp as CompletionLogprobs;
              c.lp.tokens.push(...l.tokens); c.lp.token_logprobs.push(...l.token_logprobs); c.lp.text_offset.push(...l.text_offset);
              if (l.top_logprobs) c.lp.top_logprobs!.push(...l.top_logprobs);
            } else if (lp) c.lpChat.push(...(lp as { content: unknown[] }).content);
            if (stream && (d.text !== '' || s.logprobs !== undefined)) write(chunk(idx, d.text, null, lp));
          }, ac.signal).then((f) => { results[idx] = f; }));
        }
      });
      const settled = await Promise.allSettled(jobs);
      metrics.cancelled.inc(results.filter((f) => f?.cancelled === true).length);
      const failed = settled.find((r) => r.status === 'rejected');
      const completionTokens = results.reduce((a, f) => a + (f?.completionTokens ?? 0), 0);
      const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      metrics.promptTokens.inc(promptTokens);
      metrics.completionTokens.inc(completionTokens);
      req.log.info({ model: body.model, sequences: rows, beams: s.numBeams, stream, prompt_tokens: promptTokens, completion_tokens: completionTokens, ms: Date.now() - started, timed_out: timedOut, aborted: ac.signal.aborted && !timedOut }, 'completion');
      const failure: ApiError | undefined = timedOut
        ? { status: 408, type: 'timeout_error', message: `the request ran past this server's deadline of ${lim.requestTimeout} s (--request-timeout)`, code: 'deadline_exceeded' }
        : failed ? { status: 500, type: 'server_error', message: `decoding failed: ${(failed as PromiseRejectedResult).reason}`, code: 'decode_failed' } : undefined;
      if (stream) {
        if (failure) write(errorBody(failure));
        else {
          for (let i = 0; i < rows; i++) {
            const c = chunk(i, '', results[i]!.finishReason, null);
            if (tokenIds) Object.assign(c.choices[0]!, { token_ids: results[i]!.tokenIds });
            write({ ...c, ...(includeUsage ? {} : { usage }) });
          }
          if (includeUsage) write({ id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: body.model, choices: [], usage });
        }
        if (!reply.raw.writableEnded) reply.raw.end('data: [DONE]\n\n');
        return reply;
      }
      if (ac.signal.aborted && !timedOut) return reply; // the client is gone
      if (failure) return send(reply, failure);
      const choices = results.map((f, i) => kind === 'chat'
        ? { index: i, message: { role: 'assistant', content: f.text }, logprobs: s.logprobs !== undefined ? { content: collected[i]!.lpChat } : null, finish_reason: f.finishReason, ...(tokenIds ? { token_ids: f.tokenIds } : {}) }
        : { index: i, text: f.text, logprobs: s.logprobs !== undefined ? collected[i]!.lp : null, finish_reason: f.finishReason, ...(tokenIds ? { token_ids: f.tokenIds } : {}) });
      return reply.send({ id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: body.model, choices, usage });
    } finally {
      clearTimeout(timer);
      m.right.release();
    }
  };

  app.post('/v1/completions', async (req, reply) => {
    const b = decodeBody(CompletionRequestC, req.body);
    if (E.isLeft(b)) return send(reply, b.left);
    const r = b.right;
    if (r.echo === true) return send(reply, badRequest('echo is not supported by this server', 'echo'));
    if (r.suffix !== undefined && r.suffix !== null && r.suffix !== '') return send(reply, badRequest('suffix is not supported by this server', 'suffix'));
    if (r.best_of !== undefined && r.best_of !== null && r.best_of !== 1) return send(reply, badRequest('best_of is not supported by this server (use n, or num_beams for beam search)', 'best_of'));
    const lp = r.logprobs ?? undefined;
    if (lp !== undefined && !(Number.isInteger(lp) && lp >= 0 && lp <= 5)) return send(reply, badRequest(`logprobs must be an integer in [0, 5], got ${lp}`, 'logprobs'));
    const p = prompts(r.prompt);
    if (E.isLeft(p)) return send(reply, p.left);
    const s = sampling(r, { maxTokensCap: lim.maxTokensCap, maxSequences: Math.min(128, lim.maxQueue) }, lp);
    if (E.isLeft(s)) return send(reply, s.left);
    return complete(req, reply, 'text', r, p.right, s.right);
  });

  app.post('/v1/chat/completions', async (req, reply) => {
    const b = decodeBody(ChatRequestC, req.body);
    if (E.isLeft(b)) return send(reply, b.left);
    const r = b.right;
    if (chatTemplate === undefined) return send(reply, badRequest(`the model '${o.modelId}' has no chat template (tokenizer_config.json has no chat_template): use /v1/completions`, 'messages', 'no_chat_template'));
    if (r.messages.length === 0) return send(reply, badRequest('messages must not be empty', 'messages'));
    const top = r.logprobs === true ? (r.top_logprobs ?? 0) : undefined;
    if (r.top_logprobs !== undefined && r.top_logprobs !== null && r.logprobs !== true) return send(reply, badRequest('top_logprobs needs logprobs: true', 'top_logprobs'));
    if (top !== undefined && !(Number.isInteger(top) && top >= 0 && top <= 5)) return send(reply, badRequest(`top_logprobs must be an integer in [0, 5], got ${top}`, 'top_logprobs'));
    const text = chatTemplate.render(r.messages);
    if (E.isLeft(text)) return send(reply, badRequest(text.left, 'messages'));
    const s = sampling(r, { maxTokensCap: lim.maxTokensCap, maxSequences: Math.min(128, lim.maxQueue) }, top);
    if (E.isLeft(s)) return send(reply, s.left);
    return complete(req, reply, 'chat', r, [text.right], s.right);
  });

  const server: Server = {
    app, engine, metrics,
    async listen({ port, host }) {
      return app.listen({ port, host });
    },
    async close(drainMs = 30_000) {
      draining = true;
      // stops accepting; idle keep-alive connections close now, busy ones when their response ends
      const closing = app.close();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => { timer = setTimeout(r, drainMs); });
      await Promise.race([engine.idle(), deadline]);
      clearTimeout(timer);
      engine.cancelAll(); // past the deadline: the rest leave at the next step
      await engine.idle();
      // the responses being written finish (fastify waits for them); a connection still open then is cut
      let t2: NodeJS.Timeout | undefined;
      await Promise.race([closing, new Promise<void>((r) => { t2 = setTimeout(r, 2000); })]);
      clearTimeout(t2);
      app.server.closeAllConnections();
      await closing;
      await engine.dispose();
    },
  };
  return E.right(server);
};
