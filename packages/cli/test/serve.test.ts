/**
 * `prefix-tune serve`: the command starts on 127.0.0.1, answers, logs one JSON line per request,
 * and on SIGTERM stops accepting, lets the running request finish, and exits 0; its usage errors
 * exit 2 with one line; `--help` documents the flags.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, cliSpawn } from './train-fixture.ts';
import { modelDir, rmrf, sseEvents, tempDir, writeAdapters } from '../../serve/test/fixture.ts';

let dir = '';
let root = '';
before(() => {
  dir = modelDir();
  root = tempDir('pt-cli-serve-');
  writeAdapters(root, 2);
});
after(() => { rmrf(dir); rmrf(root); });

test('serve: answers, logs requests as JSON, drains on SIGTERM and exits 0', { timeout: 120_000 }, async () => {
  const p = cliSpawn(['serve', '--model', dir, '--adapters', root, '--port', '0', '--max-running', '4', '--threads', '1']);
  let stderr = '';
  let stdout = '';
  p.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  const url = await new Promise<string>((ok, fail) => {
    p.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) ok(m[1]!);
    });
    p.on('exit', (c) => fail(new Error(`exited ${c}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((ok) => p.on('exit', (c) => ok(c)));
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
  assert.deepEqual(models.data.map((m) => m.id), [dir.split('/').at(-1), 'a00', 'a01']);
  // a streamed request in flight when SIGTERM comes still completes
  const inFlight = fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a01', prompt: 't1 t2', max_tokens: 40, temperature: 0, stream: true }) });
  const res = await inFlight;
  assert.equal(res.status, 200);
  p.kill('SIGTERM');
  const events = sseEvents(await res.text());
  assert.equal(events.at(-1), '[DONE]');
  assert.ok(events.length >= 2);
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /SIGTERM: draining/);
  const logs = stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg?: string; model?: string });
  assert.ok(logs.some((l) => l.msg === 'completion' && l.model === 'a01'), stdout);
});

test('serve: usage errors exit 2 with one line', () => {
  for (const [args, re] of [
    [['--adapters', root], /--model/],
    [['--model', dir, '--adapters', `${root}/missing`], /--adapters .*not a directory/],
    [['--model', dir, '--adapters', root, '--port', '70000'], /--port must be an integer in \[0, 65535\]/],
    [['--model', dir, '--adapters', root, '--api-key', 'short'], /--api-key must be at least 8 characters/],
  ] as const) {
    const r = cli(['serve', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
  const h = cli(['serve', '--help']);
  assert.equal(h.code, 0);
  for (const f of ['--max-running', '--max-queue', '--max-resident-adapters', '--max-tokens-cap', '--body-limit', '--request-timeout', '--api-key', '--admin-key', '--drain-timeout'])
    assert.ok(h.stdout.includes(f), f);
});
