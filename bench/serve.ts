/**
 * The server benchmark (not a timed test): `prefix-tune serve` in its own process on loopback,
 * a random-weight GPT-2 (6 layers, d 512, the GPT-2 tokenizer's 50,257 tokens, 256 positions)
 * with 16 random prefix adapters (10 virtual tokens each), driven by 1, 8, 32 and 64 concurrent
 * streaming clients. Each client sends its requests one after another: a ~16-token prompt for
 * adapter (k mod 16), `max_tokens` 32, greedy for even k and sampling (temperature 0.8) for odd.
 *
 * Reported per concurrency: tokens/s (completion tokens over the phase's wall time), time to
 * first token and inter-token latency (p50, p99; between streamed chunks), errors, and the server's
 * peak RSS in the phase (VmHWM, reset between phases). Beside them, the same requests as the
 * 32-client phase decoded offline in this process: `generate`'s path (the CLI's `makeGenerator`,
 * one batch per adapter, as `prefix-tune generate --adapter A --input F` runs) and every request
 * queued at once on core's `continuousDecoder` with the server's 32 rows (its decoder without HTTP).
 *
 * `serve.soak` (run only when named): 32 clients for PREFIX_TUNING_SOAK_S seconds (default 600),
 * the server's RSS sampled every 5 s; reports RSS at minute 2 and its spread up to the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  causalPlan, continuousDecoder, decodeModelConfig, parseAdapter, storedInjection, modelSites, type Gpt2Config, type CausalLmConfig
} from '../packages/core/src/index.ts';
import { serializeAdapterWeights } from '../packages/core/src/io/index.ts';
import { onnxBackend } from '../packages/backend-onnx/src/index.ts';
import { loadModel, taskTokenizer, prependSpace } from '../packages/hub/src/index.ts';
import { buildDecoderPrompt } from '../packages/tasks/src/index.ts';
import { exportModel, gpt2ConfigJson, initGpt2Params } from '../packages/cli/src/pretrain/model.ts';
import { makeGenerator, parseDecoding } from '../packages/cli/src/run/generation.ts';
import type { Measured } from './model.ts';
import type { CaseOptions } from './cases.ts';

/** The value of an Either, or a thrown error with its message (bench/ has no fp-ts of its own). */
const ok = <A>(e: { readonly _tag: 'Left'; readonly left: string } | { readonly _tag: 'Right'; readonly right: A }): A => {
  if (e._tag === 'Left') throw new Error(e.left);
  return e.right;
};

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const TOKENIZER = resolve(root, '..', 'shared', 'models', 'gpt2-tokenizer');
const ADAPTERS = 16;
const VIRTUAL = 10;
const MAX_TOKENS = 32;
const GEOMETRY = { n_embd: 512, n_layer: 6, n_head: 8, n_positions: 256 };

/** The model and adapter folders (written once per process, removed by `cleanup`). */
const setup = async () => {
  const work = mkdtempSync(join(tmpdir(), 'pt-bench-serve-'));
  const model = join(work, 'model');
  const config = gpt2ConfigJson({ vocab_size: 50257, ...GEOMETRY, eos: 50256 });
  const cfg = ok(decodeModelConfig(config)) as Gpt2Config;
  await exportModel(model, {
    config, cfg, params: initGpt2Params(cfg, 1), dtype: 'F32',
    tokenizerJson: readFileSync(join(TOKENIZER, 'tokenizer.json'), 'utf8'), tokenizerConfigJson: readFileSync(join(TOKENIZER, 'tokenizer_config.json'), 'utf8'),
  });
  const adapters = join(work, 'adapters');
  const W = 2 * GEOMETRY.n_layer * GEOMETRY.n_embd;
  for (let a = 0; a < ADAPTERS; a++) {
    const dir = join(adapters, `user${String(a).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({
      peft_type: 'PREFIX_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: VIRTUAL, token_dim: GEOMETRY.n_embd, num_layers: GEOMETRY.n_layer,
      num_attention_heads: GEOMETRY.n_head, num_transformer_submodules: 1, encoder_hidden_size: GEOMETRY.n_embd, prefix_projection: false, inference_mode: true,
    }));
    let s = a + 1;
    const data = Float32Array.from({ length: VIRTUAL * W }, () => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return (s / 2 ** 32 - 0.5) * 0.5; });
    writeFileSync(join(dir, 'adapter_model.safetensors'), serializeAdapterWeights({ shape: [VIRTUAL, W], data }));
  }
  const ids = Array.from({ length: ADAPTERS }, (_, a) => `user${String(a).padStart(2, '0')}`);
  return { work, model, adapters, ids, cleanup: () => rmSync(work, { recursive: true, force: true }) };
};

const WORDS = 'name area food price rating family near river city centre coffee shop pub restaurant cheap high low average friendly Italian French Chinese'.split(' ');
/** Request k: its adapter, prompt and sampling. */
const requestOf = (ids: readonly string[], k: number) => ({
  model: ids[k % ids.length]!,
  prompt: Array.from({ length: 12 }, (_, i) => WORDS[(k * 7 + i * 3) % WORDS.length]).join(' '),
  ...(k % 2 === 0 ? { temperature: 0 } : { temperature: 0.8, seed: k }),
});

/** Starts `prefix-tune serve`; resolves to its URL and process. */
const startServe = (model: string, adapters: string, threads: number, maxRunning: number): Promise<{ url: string; proc: ChildProcess }> =>
  new Promise((ok, fail) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), 'serve', '--model', model, '--adapters', adapters, '--port', '0', '-q',
      '--threads', String(threads), '--max-running', String(maxRunning), '--max-queue', '1024', '--max-resident-adapters', String(ADAPTERS)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) ok({ url: m[1]!, proc });
    });
    proc.on('exit', (c) => fail(new Error(`serve exited ${c}: ${err}`)));
  });

const procStatus = (pid: number, key: 'VmHWM' | 'VmRSS'): number => {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};
/** Resets the peak RSS of a process (Linux: writing 5 to clear_refs). */
const resetPeak = (pid: number): void => { try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* not Linux: the peak since start */ } };

interface Timing { ttft: number[]; itl: number[]; tokens: number; errors: number; errorKinds: Set<string> }

/** One streaming request: appends its first-token time, inter-token gaps and tokens to `t`. */
const streamOne = async (url: string, body: object, t: Timing): Promise<void> => {
  const t0 = performance.now();
  try {
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, max_tokens: MAX_TOKENS, stream: true }) });
    if (r.status !== 200) { t.errors++; t.errorKinds.add(`${r.status} ${(await r.text()).slice(0, 120)}`); return; }
    const dec = new TextDecoder();
    let buf = '';
    let last = -1;
    let done = false;
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i).replace(/^data: /, '');
        buf = buf.slice(i + 2);
        if (ev === '[DONE]') { done = true; continue; }
        const j = JSON.parse(ev) as { choices: { text: string; finish_reason: string | null }[]; usage?: { completion_tokens: number }; error?: unknown };
        if (j.error) { t.errors++; t.errorKinds.add(JSON.stringify(j.error).slice(0, 120)); return; }
        if (j.usage) t.tokens += j.usage.completion_tokens;
        if (j.choices[0]?.text) {
          const now = performance.now();
          if (last < 0) t.ttft.push(now - t0); else t.itl.push(now - last);
          last = now;
        }
      }
    }
    if (!done) { t.errors++; t.errorKinds.add('stream ended without [DONE]'); }
  } catch (e) {
    t.errors++;
    t.errorKinds.add((e as Error).message.slice(0, 120));
  }
};

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

/** `clients` concurrent clients, each sending `perClient` requests in turn. */
const phase = async (url: string, ids: readonly string[], clients: number, perClient: number) => {
  const t: Timing = { ttft: [], itl: [], tokens: 0, errors: 0, errorKinds: new Set() };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let r = 0; r < perClient; r++) await streamOne(url, requestOf(ids, c * perClient + r), t);
  }));
  const s = (performance.now() - t0) / 1000;
  return { t, s, tokensPerS: t.tokens / s };
};

/** The requests of a phase decoded offline: generate's path (one batch per adapter) and one mixed continuous batch. */
const offline = async (model: string, adapters: string, ids: readonly string[], n: number, threads: number, maxRows: number) => {
  const backend = onnxBackend({ intraOpNumThreads: threads });
  const m = { right: ok(await loadModel(model)) };
  const reqs = Array.from({ length: n }, (_, k) => requestOf(ids, k));
  const cfg = m.right.config as CausalLmConfig;
  const readAdapter = (id: string) => {
    return ok(parseAdapter(cfg, JSON.parse(readFileSync(join(adapters, id, 'adapter_config.json'), 'utf8')), readFileSync(join(adapters, id, 'adapter_model.safetensors'))));
  };
  // generate's path: for each adapter, its greedy prompts in one batch and its sampled ones in another
  let genTokens = 0;
  let genMs = 0;
  for (const id of ids) {
    const gen = await makeGenerator(backend, m.right, readAdapter(id));
    for (const mode of [['--greedy'], ['--sample', '--temperature', '0.8']]) {
      const texts = reqs.filter((r) => r.model === id && (mode[0] === '--greedy') === (r.temperature === 0)).map((r) => r.prompt);
      if (texts.length === 0) continue;
      const dec = parseDecoding({ [mode[0]!.slice(2)]: true, ...(mode[1] ? { temperature: 0.8 } : {}), 'max-new-tokens': MAX_TOKENS, 'batch-size': texts.length }, { beams: 1, maxNewTokens: MAX_TOKENS });
      const t0 = performance.now();
      const outs = await gen.run(texts, dec);
      genMs += performance.now() - t0;
      genTokens += outs.reduce((a, o) => a + o.ids.length, 0);
    }
    await gen.dispose();
  }
  // one mixed batch on the continuous decoder: every request a row with its adapter's bank slot
  const dec = await continuousDecoder(backend, cfg, m.right.params, { maxRows });
  const sites = modelSites(cfg);
  const first = readAdapter(ids[0]!);
  const bank = await dec.bank(causalPlan(cfg, storedInjection(sites, first.variant, ids.length)), ids.length);
  for (const [i, id] of ids.entries()) await bank.set(i, readAdapter(id).params);
  const encode = buildDecoderPrompt(ok(taskTokenizer(m.right)), { prependSpace: prependSpace(cfg) });
  let mixedTokens = 0;
  const t0 = performance.now();
  reqs.forEach((r, k) => dec.add({
    prompt: encode(r.prompt), prefix: { bank, slot: ids.indexOf(r.model) },
    options: { maxNewTokens: MAX_TOKENS, eosTokenIds: [50256], ...(r.temperature > 0 ? { doSample: true, temperature: r.temperature, seed: k } : {}) },
    onToken: () => { mixedTokens++; }, onDone: () => {},
  }));
  while ((await dec.step()) > 0);
  const mixedMs = performance.now() - t0;
  await dec.dispose();
  return { generateTokensPerS: genTokens / (genMs / 1000), mixedTokensPerS: mixedTokens / (mixedMs / 1000) };
};

/** serve.stream: 1, 8, 32 and 64 streaming clients over 16 adapters, beside offline decoding of the same requests. */
export const serveStream = async (o: CaseOptions): Promise<Measured> => {
  const env = await setup();
  const details: Record<string, number | string> = { model: `gpt2 random ${GEOMETRY.n_layer}L d${GEOMETRY.n_embd} vocab 50257`, adapters: ADAPTERS, prefix: VIRTUAL, max_tokens: MAX_TOKENS, max_running: 32 };
  try {
    // PREFIX_TUNING_SERVE_CLIENTS=1,2 for a quick check of the bench itself
    const levels = (process.env['PREFIX_TUNING_SERVE_CLIENTS'] ?? '1,8,32,64').split(',').map(Number);
    const ref = levels.includes(32) ? 32 : Math.max(...levels);
    const off = await offline(env.model, env.adapters, env.ids, ref * 2, o.threads, 32);
    details['offline_generate_tokens_per_s'] = r1(off.generateTokensPerS);
    details['offline_mixed_batch_tokens_per_s'] = r1(off.mixedTokensPerS);
    const { url, proc } = await startServe(env.model, env.adapters, o.threads, 32);
    try {
      await phase(url, env.ids, ADAPTERS, 1); // warm-up: every adapter loaded, every bank compiled
      const per = (c: number) => (c === 1 ? 4 : 2);
      let errors = 0;
      const kinds = new Set<string>();
      const tps: Record<number, number> = {};
      for (const c of levels) {
        resetPeak(proc.pid!);
        const p = await phase(url, env.ids, c, per(c));
        tps[c] = p.tokensPerS;
        errors += p.t.errors;
        for (const k of p.t.errorKinds) kinds.add(k);
        Object.assign(details, {
          [`c${c}_tokens_per_s`]: r1(p.tokensPerS), [`c${c}_requests`]: c * per(c), [`c${c}_ttft_p50_ms`]: r1(pct(p.t.ttft, 50)), [`c${c}_ttft_p99_ms`]: r1(pct(p.t.ttft, 99)),
          [`c${c}_itl_p50_ms`]: r1(pct(p.t.itl, 50)), [`c${c}_itl_p99_ms`]: r1(pct(p.t.itl, 99)), [`c${c}_errors`]: p.t.errors, [`c${c}_server_peak_rss_mb`]: procStatus(proc.pid!, 'VmHWM'),
        });
        console.error(`serve c${c}: ${p.tokensPerS.toFixed(1)} tokens/s, TTFT p50 ${pct(p.t.ttft, 50).toFixed(0)} ms, ITL p50 ${pct(p.t.itl, 50).toFixed(1)} ms p99 ${pct(p.t.itl, 99).toFixed(1)} ms, ${p.t.errors} errors`);
      }
      details['errors'] = errors;
      if (kinds.size > 0) details['error_kinds'] = [...kinds].join(' | ');
      if (tps[1] !== undefined) details[`c${ref}_over_c1`] = r1(tps[ref]! / tps[1]);
      details[`c${ref}_over_offline_mixed`] = Math.round((tps[ref]! / off.mixedTokensPerS) * 100) / 100;
      details[`c${ref}_over_offline_generate`] = Math.round((tps[ref]! / off.generateTokensPerS) * 100) / 100;
      details['offline_requests'] = ref * 2;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
      return { tokens_per_s: tps[ref]!, step_ms: 1000 / tps[ref]!, flops_per_step: 0, details };
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  } finally {
    env.cleanup();
  }
};

/** serve.soak: 32 clients for PREFIX_TUNING_SOAK_S seconds (default 600); the server's RSS from minute 2 on. */
export const serveSoak = async (o: CaseOptions): Promise<Measured> => {
  const seconds = Number(process.env['PREFIX_TUNING_SOAK_S'] ?? 600);
  const env = await setup();
  const { url, proc } = await startServe(env.model, env.adapters, o.threads, 32);
  try {
    const samples: { s: number; rss: number }[] = [];
    const t0 = performance.now();
    const timer = setInterval(() => samples.push({ s: (performance.now() - t0) / 1000, rss: procStatus(proc.pid!, 'VmRSS') }), 5000);
    const t: Timing = { ttft: [], itl: [], tokens: 0, errors: 0, errorKinds: new Set() };
    let k = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (performance.now() - t0 < seconds * 1000) await streamOne(url, requestOf(env.ids, k++), t);
    }));
    clearInterval(timer);
    const from = Math.min(120, seconds / 5);
    const later = samples.filter((x) => x.s >= from).map((x) => x.rss);
    const at2 = later[0] ?? NaN;
    const spread = (Math.max(...later) - Math.min(...later)) / at2;
    const details = {
      soak_s: seconds, requests: k, errors: t.errors, rss_from_s: from, rss_at_from_mb: at2, rss_max_mb: Math.max(...later), rss_min_mb: Math.min(...later),
      rss_spread_pct: Math.round(spread * 1000) / 10, rss_samples: samples.map((x) => `${Math.round(x.s)}:${x.rss}`).join(' '),
      itl_p50_ms: r1(pct(t.itl, 50)), itl_p99_ms: r1(pct(t.itl, 99)),
    };
    const tps = t.tokens / seconds;
    return { tokens_per_s: tps, step_ms: 1000 / tps, flops_per_step: 0, details };
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.on('exit', r));
    env.cleanup();
  }
};

export const serveCases = { 'serve.stream': serveStream };
/** Cases run only when named (`--only serve.soak`). */
export const namedOnlyCases = { 'serve.soak': serveSoak };
