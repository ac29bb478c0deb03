/**
 * Engine selection, each case in a fresh process: with the native packages' install scripts
 * denied (as in this repository), 'auto' falls back to wasm quietly (one line on stderr naming
 * the engine and why the native ones were skipped, nothing else), records what it chose, and
 * gives the same results as the cpu engine; a named engine that cannot load is an error with
 * its reason; the environment variable selects an engine; the wasm engine's threaded build
 * loads under Node and exits cleanly. The fallback cases hide the native addons (child/hide-native.cjs)
 * where scripts/install-tfjs-native.sh built one; with that addon, 'auto' picks the node engine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const child = join(fileURLToPath(import.meta.url), '..', 'child', 'engine.ts');

interface Outcome {
  readonly ok: boolean;
  readonly before: string;
  readonly engine?: string;
  readonly name?: string;
  readonly info?: { name: string; tfjsBackend: string; version: string; detail: string; description: string; skipped: { engine: string; reason: string }[] };
  readonly lines: string[];
  readonly y?: number[];
  readonly error?: string;
  readonly errorName?: string;
}

const hideNative = join(fileURLToPath(import.meta.url), '..', 'child', 'hide-native.cjs');

/**
 * Runs the child. `native: false` (the default) hides the native addons, as a plain install
 * leaves them; `native: true` leaves them as they are.
 */
const spawn = (opts: Record<string, unknown>, env: Record<string, string> = {}, native = false): { out: Outcome; stderr: string; status: number | null } => {
  const r = spawnSync(process.execPath, [...(native ? [] : ['--require', hideNative]), '--import', 'tsx', child, JSON.stringify(opts)], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, PREFIX_TUNING_TFJS_ENGINE: '', ...env },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  assert.ok(line.startsWith('{'), `child printed no result (status ${r.status}, signal ${r.signal}): ${r.stdout}\n${r.stderr}`);
  return { out: JSON.parse(line) as Outcome, stderr: r.stderr, status: r.status };
};

// tanh(x @ w + 1) for the child's fixed x and w, computed here in float64
const expectedY = (() => {
  const x = [[1, 2, 3], [4, 5, 6]];
  const w = [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]];
  return x.flatMap((r) => [0, 1].map((j) => Math.tanh(r.reduce((s, v, k) => s + v * w[k]![j]!, 0) + 1)));
})();

const assertY = (y: number[] | undefined): void => {
  assert.ok(y);
  y.forEach((v, i) => assert.ok(Math.abs(v - expectedY[i]!) < 1e-6, `y[${i}] = ${v}, expected ${expectedY[i]}`));
};

describe('engine selection', () => {
  it("'auto' without the native packages' binaries: wasm, chosen quietly and recorded", () => {
    const { out, stderr, status } = spawn({});
    assert.equal(status, 0);
    assert.ok(out.ok, out.error);
    assert.equal(out.name, 'tfjs');
    assert.equal(out.info!.name, 'wasm');
    assert.equal(out.info!.tfjsBackend, 'wasm');
    assert.equal(out.info!.version, '4.22.0');
    assert.match(out.engine!, /^tfjs wasm 4\.22\.0 \(simd, 1 thread\)$/);
    assert.match(out.before, /selecting: node-gpu > node > wasm > cpu/);
    assert.deepEqual(out.info!.skipped.map((s) => s.engine), ['node-gpu', 'node']);
    for (const s of out.info!.skipped) assert.match(s.reason, /tfjs-node(-gpu)? (did not load|is not installed)/);
    // exactly one line of output: the selection, naming what was skipped and why
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr:\n${stderr}`);
    assert.match(lines[0]!, /^\[backend-tfjs\] engine: tfjs wasm 4\.22\.0 \(simd, 1 thread\) \(skipped node-gpu: .*; node: .*\)$/);
    assertY(out.y);
  });

  it('a log function receives the line instead of stderr; log: false is silent', () => {
    const a = spawn({ log: 'capture' });
    assert.ok(a.out.ok, a.out.error);
    assert.equal(a.out.lines.length, 1);
    assert.match(a.out.lines[0]!, /engine: tfjs wasm/);
    assert.equal(a.stderr.trim(), '');
    const b = spawn({ log: false });
    assert.ok(b.out.ok, b.out.error);
    assert.equal(b.stderr.trim(), '');
  });

  it('a named engine that cannot load is an error with its reason, not a fallback', () => {
    for (const engine of ['node', 'node-gpu']) {
      const { out } = spawn({ engine, log: false });
      assert.equal(out.ok, false);
      assert.equal(out.errorName, 'EngineUnavailable');
      assert.match(out.error!, new RegExp(`^tfjs engine '${engine}' is unavailable: @tensorflow/tfjs-node(-gpu)? `));
    }
  });

  it('PREFIX_TUNING_TFJS_ENGINE names the engine (cpu: no tfjs-node advertisement); the option overrides it', () => {
    const { out, stderr } = spawn({}, { PREFIX_TUNING_TFJS_ENGINE: 'cpu' });
    assert.ok(out.ok, out.error);
    assert.equal(out.info!.name, 'cpu');
    assert.equal(out.engine, 'tfjs cpu 4.22.0 (pure JavaScript)');
    assert.doesNotMatch(stderr, /Hi, looks like/);
    assert.equal(stderr.trim().split('\n').length, 1);
    assertY(out.y);
    const o = spawn({ engine: 'wasm', log: false }, { PREFIX_TUNING_TFJS_ENGINE: 'cpu' });
    assert.equal(o.out.info!.name, 'wasm');
  });

  it('an unknown engine name is an error listing the engines', () => {
    const { out } = spawn({ engine: 'webgpu', log: false });
    assert.equal(out.ok, false);
    assert.match(out.error!, /unknown tfjs engine 'webgpu' \(engines: auto, node-gpu, node, wasm, cpu\)/);
  });

  it('with the addon that scripts/install-tfjs-native.sh builds: auto picks node (TensorFlow), says so in one line, computes the same', (t) => {
    const built = existsSync(join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-node/package.json')), 'lib', 'napi-v8', 'tfjs_binding.node'));
    // where the suite runs on the native engine (CI), the addon must be there: no silent skip
    if (!built && process.env['PREFIX_TUNING_TEST_TFJS_ENGINE'] === 'node') assert.fail('PREFIX_TUNING_TEST_TFJS_ENGINE=node but the tfjs-node addon is not built (run scripts/install-tfjs-native.sh)');
    if (!built) return t.skip('tfjs-node addon not built (scripts/install-tfjs-native.sh)');
    const { out, stderr, status } = spawn({}, {}, true);
    assert.equal(status, 0);
    assert.ok(out.ok, out.error);
    assert.equal(out.info!.name, 'node');
    assert.equal(out.info!.tfjsBackend, 'tensorflow');
    assert.match(out.engine!, /^tfjs-node 4\.22\.0 \(TensorFlow 2\.18\.0 C library, CPU\)$/);
    assert.deepEqual(out.info!.skipped.map((s) => s.engine), out.info!.skipped.length === 0 ? [] : ['node-gpu']);
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr:\n${stderr}`);
    assert.match(lines[0]!, /^\[backend-tfjs\] engine: tfjs-node 4\.22\.0 \(TensorFlow 2\.18\.0 C library, CPU\)/);
    assertY(out.y);
    const named = spawn({ engine: 'node', log: false }, {}, true);
    assert.ok(named.out.ok, named.out.error);
    assert.equal(named.out.info!.name, 'node');
    assertY(named.out.y);
  });

  it("wasm with 2 threads: the threaded SIMD build loads under Node, computes the same, and the process exits", () => {
    const { out, status } = spawn({ engine: 'wasm', wasmThreads: 2, log: false });
    assert.equal(status, 0);
    assert.ok(out.ok, out.error);
    assert.equal(out.info!.detail, 'simd, 2 threads');
    assertY(out.y);
  });
});
