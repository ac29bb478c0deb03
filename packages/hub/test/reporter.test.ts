import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleReporter, resolveUrl } from '../src/download.ts';
import { cacheDirFor } from '../src/resolve.ts';

const fakeStream = (isTTY: boolean) => {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream };
};

test('progress: plain lines when not a TTY, a redrawn bar on a TTY', () => {
  const plain = fakeStream(false);
  const r = consoleReporter(plain.stream);
  r({ kind: 'start', file: 'model.safetensors', total: 2_000_000, resumedFrom: 500_000 });
  r({ kind: 'progress', file: 'model.safetensors', done: 1_000_000, total: 2_000_000 });
  r({ kind: 'done', file: 'model.safetensors', bytes: 2_000_000, verified: 'sha256' });
  assert.deepEqual(plain.out, ['downloading model.safetensors (2.0 MB), resuming at 0.5 MB\n', 'model.safetensors: 2.0 MB, sha256 verified\n']);
  const tty = fakeStream(true);
  const t = consoleReporter(tty.stream);
  t({ kind: 'start', file: 'x', total: 100, resumedFrom: 0 });
  t({ kind: 'progress', file: 'x', done: 100, total: 100 });
  assert.match(tty.out[1]!, /^\r {2}\[={30}\] 100% /);
});

test('URLs and cache directories follow the hub layout', () => {
  assert.equal(resolveUrl({ endpoint: 'https://hf.example/', repo: 'facebook/bart-large', revision: 'main' }, 'model.safetensors'), 'https://hf.example/facebook/bart-large/resolve/main/model.safetensors');
  assert.equal(resolveUrl({ endpoint: 'https://hf.example', repo: 'gpt2-medium', revision: 'refs/pr/1' }, 'config.json'), 'https://hf.example/gpt2-medium/resolve/refs%2Fpr%2F1/config.json');
  assert.equal(cacheDirFor('facebook/bart-large', { cacheDir: '/c' }), '/c/hub/facebook--bart-large');
  assert.equal(cacheDirFor('gpt2-medium', { cacheDir: '/c', revision: 'v1.0' }), '/c/hub/gpt2-medium--v1.0');
  const prev = process.env['PREFIX_TUNING_CACHE'];
  process.env['PREFIX_TUNING_CACHE'] = '/env-cache';
  try {
    assert.equal(cacheDirFor('gpt2'), '/env-cache/hub/gpt2');
  } finally {
    if (prev === undefined) delete process.env['PREFIX_TUNING_CACHE'];
    else process.env['PREFIX_TUNING_CACHE'] = prev;
  }
});
