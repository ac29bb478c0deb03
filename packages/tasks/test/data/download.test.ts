/**
 * Downloads against a local HTTP server on 127.0.0.1 serving a fixture directory written here:
 * resume with Range after a cut connection (within a call and across calls), checksum refusal,
 * mirrors, the shared-then-cache resolution, offline errors naming the directory, tar.gz archives.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { left, right, tempDir, writeTree } from './helpers.ts';
import { downloadFile, ensureDataset } from '../../src/data/download.ts';
import { extractTarGz } from '../../src/data/tar.ts';
import { REGISTRY, type DatasetSource } from '../../src/data/registry.ts';
import { loadTaskSplit } from '../../src/data/tasks.ts';

const { dir: root, cleanup } = tempDir('pt-dl-');
const served = join(root, 'served');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

// a 200 kB file with varied bytes, so a wrong splice would show
const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919 + (i >> 8)) & 0xff));

type Hit = { path: string; range: string | undefined };
let log: Hit[] = [];
/** path → bytes to send before cutting the connection (once) */
const cutOnce = new Map<string, number>();
/** paths for which Range requests are ignored (plain 200) */
const ignoreRange = new Set<string>();
let server: Server;
let base = '';

before(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const range = req.headers.range;
    log.push({ path, range });
    const file = join(served, path);
    if (!existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(file);
    const m = range === undefined || ignoreRange.has(path) ? null : /^bytes=(\d+)-$/.exec(range);
    const start = m ? Number(m[1]) : 0;
    if (m && start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    const slice = body.subarray(start);
    res.writeHead(m ? 206 : 200, {
      'content-length': String(slice.length),
      ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    const cut = cutOnce.get(path);
    if (cut !== undefined) {
      cutOnce.delete(path);
      res.write(slice.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeTree(served, { 'big.bin': big, 'small.txt': 'hello\n', 'mirror/small.txt': 'hello\n' });
});
after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  cleanup();
});

test('a cut connection is resumed with a Range request within one call', async () => {
  log = [];
  cutOnce.set('/big.bin', 70_000);
  const dest = join(root, 'a', 'big.bin');
  const r = await right(downloadFile({ urls: [`${base}/big.bin`], sha256: sha256(big), bytes: big.length }, dest));
  assert.deepEqual(readFileSync(dest), big);
  assert.equal(r.resumedFrom, 70_000);
  assert.deepEqual(log, [
    { path: '/big.bin', range: undefined },
    { path: '/big.bin', range: 'bytes=70000-' },
  ]);
  assert.ok(!existsSync(`${dest}.part`));
});

test('a partial file left by a failed call is resumed by the next call', async () => {
  log = [];
  cutOnce.set('/big.bin', 123_457);
  const dest = join(root, 'b', 'big.bin');
  const e = await left(downloadFile({ urls: [`${base}/big.bin`], gitSha1: gitSha1(big) }, dest, { retries: 0 }));
  assert.equal(e.kind, 'network');
  assert.equal(statSync(`${dest}.part`).size, 123_457);
  const r = await right(downloadFile({ urls: [`${base}/big.bin`], gitSha1: gitSha1(big) }, dest));
  assert.equal(r.resumedFrom, 123_457);
  assert.deepEqual(readFileSync(dest), big);
  assert.equal(log[1].range, 'bytes=123457-');
  // a verified file is not downloaded again
  log = [];
  await right(downloadFile({ urls: [`${base}/big.bin`], gitSha1: gitSha1(big) }, dest));
  assert.deepEqual(log, []);
});

test('a server that ignores Range still yields the right file', async () => {
  ignoreRange.add('/big.bin');
  cutOnce.set('/big.bin', 50_000);
  const dest = join(root, 'c', 'big.bin');
  await right(downloadFile({ urls: [`${base}/big.bin`], sha256: sha256(big) }, dest));
  assert.deepEqual(readFileSync(dest), big);
  ignoreRange.delete('/big.bin');
});

test('a checksum mismatch is refused and leaves nothing behind; mirrors are tried after a 404', async () => {
  const dest = join(root, 'd', 'small.txt');
  const e = await left(downloadFile({ urls: [`${base}/small.txt`], sha256: sha256('something else') }, dest, { retries: 1 }));
  assert.equal(e.kind, 'checksum');
  assert.match(e.reason, /^sha256 is [0-9a-f]{64}, expected/);
  assert.ok(!existsSync(dest) && !existsSync(`${dest}.part`));
  const size = await left(downloadFile({ urls: [`${base}/small.txt`], bytes: 7 }, dest, { retries: 0 }));
  assert.deepEqual([size.kind, size.reason], ['checksum', 'size is 6 bytes, expected 7']);
  log = [];
  await right(downloadFile({ urls: [`${base}/gone.txt`, `${base}/mirror/small.txt`], sha256: sha256('hello\n') }, dest));
  assert.equal(readFileSync(dest, 'utf8'), 'hello\n');
  assert.deepEqual(log.map((h) => h.path), ['/gone.txt', '/mirror/small.txt']); // a 404 is not retried
});

/** A registry entry served by the local server. */
const fixtureSource = (name: string, files: Record<string, string>): DatasetSource => ({
  name,
  sharedPath: `fixtures/${name}`,
  homepage: base,
  license: 'test',
  files: Object.entries(files).map(([path, content]) => ({ path, urls: [`${base}/${name}/${path}`], sha256: sha256(content) })),
  archives: [],
});

test('ensureDataset: shared copy first, else download into $PREFIX_TUNING_CACHE/datasets/<name>, once', async () => {
  const files = { 'train.jsonl': '{"source":"a","target":"b"}\n', 'sub/test.jsonl': '{"source":"c","target":"d"}\n' };
  writeTree(join(served, 'toy'), files);
  const env = { PREFIX_TUNING_SHARED: join(root, 'shared1'), PREFIX_TUNING_CACHE: join(root, 'cache1') };
  const registry = { toy: fixtureSource('toy', files) };
  log = [];
  const dir = await right(ensureDataset('toy', { env, registry }));
  assert.equal(dir, join(root, 'cache1', 'datasets', 'toy'));
  assert.equal(readFileSync(join(dir, 'sub', 'test.jsonl'), 'utf8'), files['sub/test.jsonl']);
  assert.equal(log.length, 2);
  assert.equal(await right(ensureDataset('toy', { env, registry })), dir);
  assert.equal(log.length, 2, 'nothing downloaded the second time');
  // a complete shared copy wins, without network
  writeTree(join(root, 'shared1', 'data', 'fixtures', 'toy'), files);
  assert.equal(await right(ensureDataset('toy', { env, registry })), join(root, 'shared1', 'data', 'fixtures', 'toy'));
  assert.equal(log.length, 2);
  const unknown = await left(ensureDataset('nope', { env, registry }));
  assert.equal(unknown.kind, 'usage');
});

test('offline, or with the host unreachable, the error names the directory to fill and the files', async () => {
  const files = { 'a.txt': 'A' };
  const env = { PREFIX_TUNING_SHARED: join(root, 'shared2'), PREFIX_TUNING_CACHE: join(root, 'cache2') };
  const cacheDir = join(root, 'cache2', 'datasets', 'off');
  const e = await left(ensureDataset('off', { env, registry: { off: fixtureSource('off', files) }, offline: true }));
  assert.equal(e.kind, 'offline');
  assert.equal(e.file, cacheDir);
  assert.ok(e.reason.includes(`put a.txt into ${cacheDir}`), e.reason);
  const viaEnv = await left(ensureDataset('off', { env: { ...env, PREFIX_TUNING_OFFLINE: '1' }, registry: { off: fixtureSource('off', files) } }));
  assert.equal(viaEnv.kind, 'offline');
  // a port nobody listens on
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const dead: DatasetSource = { ...fixtureSource('off', files), files: [{ path: 'a.txt', urls: [`http://127.0.0.1:${port}/a.txt`] }] };
  const u = await left(ensureDataset('off', { env, registry: { off: dead } }));
  assert.equal(u.kind, 'offline');
  assert.ok(u.reason.includes(cacheDir) && u.reason.includes('a.txt'), u.reason);
  // datasets without a download (e.g. SAMSum) explain what to do by hand
  const manual = await left(ensureDataset('samsum', { env, registry: REGISTRY }));
  assert.equal(manual.kind, 'offline');
  assert.match(manual.reason, /7z/);
});

test('loadTaskSplit downloads E2E from (a mirror of) the registry and linearises it', async () => {
  const csv = 'mr,ref\n"name[Blue Spice], eatType[coffee shop]",Blue Spice is a coffee shop.\n"name[Blue Spice], eatType[coffee shop]",A coffee shop.\n';
  writeTree(join(served, 'e2e'), { 'testset_w_refs.csv': csv });
  const registry = {
    ...REGISTRY,
    e2e: { ...REGISTRY.e2e, files: [{ path: 'testset_w_refs.csv', urls: [`${base}/e2e/testset_w_refs.csv`], sha256: sha256(csv) }] },
  };
  const env = { PREFIX_TUNING_SHARED: join(root, 'shared3'), PREFIX_TUNING_CACHE: join(root, 'cache3') };
  const t = await right(loadTaskSplit('e2e', 'test', { env, registry }));
  assert.deepEqual(t.groups, [
    { id: 'e2e/test/0', source: 'name : Blue Spice | Type : coffee shop', references: ['Blue Spice is a coffee shop.', 'A coffee shop.'] },
  ]);
  assert.ok(existsSync(join(root, 'cache3', 'datasets', 'e2e', 'testset_w_refs.csv')));
});

const tarAvailable = spawnSync('tar', ['--version']).status === 0;

test('tar.gz archives made by GNU tar (ustar, GNU long names, pax) extract; XSum end to end', { skip: !tarAvailable && 'no tar' }, async () => {
  const longName = `${'long-directory-name-'.repeat(6)}/file.summary`;
  const src = join(root, 'tarsrc');
  writeTree(src, {
    'bbc-summary-data/1.summary': '[SN]URL[SN]\nhttp://www.bbc.com/sport/golf/1\n\n[SN]TITLE[SN]\nT\n\n[SN]FIRST-SENTENCE[SN]\nA golfer won.\n\n[SN]RESTBODY[SN]\nBody.\n',
    [`bbc-summary-data/${longName}`]: 'deep',
    'bbc-summary-data/empty.txt': '',
  });
  for (const format of ['gnu', 'pax', 'ustar']) {
    const archive = join(served, `x-${format}.tar.gz`);
    const args = ['-czf', archive, `--format=${format}`, '-C', src, 'bbc-summary-data'];
    if (format === 'ustar') args.splice(args.indexOf(`bbc-summary-data`), 1, 'bbc-summary-data/1.summary', 'bbc-summary-data/empty.txt');
    assert.equal(spawnSync('tar', args).status, 0);
    const out = join(root, `untar-${format}`);
    const r = await right(extractTarGz(archive, out));
    assert.equal(readFileSync(join(out, 'bbc-summary-data', '1.summary'), 'utf8').split('\n')[1], 'http://www.bbc.com/sport/golf/1');
    assert.equal(readFileSync(join(out, 'bbc-summary-data', 'empty.txt'), 'utf8'), '');
    if (format !== 'ustar') assert.equal(readFileSync(join(out, 'bbc-summary-data', longName), 'utf8'), 'deep');
    assert.equal(r.files, format === 'ustar' ? 2 : 3);
    const stripped = join(root, `strip-${format}`);
    await right(extractTarGz(archive, stripped, { strip: 1 }));
    assert.ok(existsSync(join(stripped, '1.summary')));
  }
  const split = JSON.stringify({ train: [], validation: [], test: ['1'] });
  writeTree(join(served, 'xsum'), { 'split.json': split });
  const registry = {
    ...REGISTRY,
    xsum: {
      ...REGISTRY.xsum,
      files: [{ path: 'XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json', urls: [`${base}/xsum/split.json`], sha256: sha256(split) }],
      archives: [{ ...REGISTRY.xsum.archives[0], urls: [`${base}/x-gnu.tar.gz`] }],
    },
  };
  const env = { PREFIX_TUNING_SHARED: join(root, 'shared4'), PREFIX_TUNING_CACHE: join(root, 'cache4') };
  const t = await right(loadTaskSplit('xsum', 'test', { env, registry }));
  assert.deepEqual(t.pairs, [{ id: '1', source: 'Body.', target: 'A golfer won.' }]);
  assert.ok(!existsSync(join(root, 'cache4', 'datasets', 'xsum', '.downloads', 'XSUM-EMNLP18-Summary-Data-Original.tar.gz')));
});

/** A one-member ustar archive written by hand (for names GNU tar will not write). */
const ustar = (name: string, content: string): Buffer => {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const data = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  data.write(content);
  return Buffer.concat([h, data, Buffer.alloc(1024)]);
};

test('tar: unsafe member paths, bad checksums and truncated archives are refused', async () => {
  mkdirSync(join(root, 'evil'), { recursive: true });
  const ok = join(root, 'evil', 'ok.tar.gz');
  writeFileSync(ok, gzipSync(ustar('dir/a.txt', 'fine')));
  await right(extractTarGz(ok, join(root, 'evil', 'out')));
  assert.equal(readFileSync(join(root, 'evil', 'out', 'dir', 'a.txt'), 'utf8'), 'fine');
  for (const bad of ['../escape.txt', '/abs.txt', 'a/../../escape.txt']) {
    const f = join(root, 'evil', 'bad.tar.gz');
    writeFileSync(f, gzipSync(ustar(bad, 'x')));
    const e = await left(extractTarGz(f, join(root, 'evil', 'out2')));
    assert.deepEqual([e.kind, e.reason], ['archive', `unsafe member path "${bad}"`]);
  }
  assert.ok(!existsSync(join(root, 'evil', 'escape.txt')));
  const corrupt = ustar('a.txt', 'x');
  corrupt[0] ^= 1;
  writeFileSync(join(root, 'evil', 'sum.tar.gz'), gzipSync(corrupt));
  assert.match((await left(extractTarGz(join(root, 'evil', 'sum.tar.gz'), join(root, 'evil', 'o3')))).reason, /bad tar header checksum/);
  writeFileSync(join(root, 'evil', 'trunc.tar.gz'), gzipSync(ustar('a.txt', 'y'.repeat(2000)).subarray(0, 1024)));
  assert.match((await left(extractTarGz(join(root, 'evil', 'trunc.tar.gz'), join(root, 'evil', 'o4')))).reason, /archive ends inside member "a.txt"/);
  writeFileSync(join(root, 'evil', 'notgz.tar.gz'), 'plain text');
  assert.equal((await left(extractTarGz(join(root, 'evil', 'notgz.tar.gz'), join(root, 'evil', 'o5')))).kind, 'archive');
});

test('paths: shared and cache directories follow the environment', async () => {
  const { sharedDir, cacheRoot, datasetCacheDir } = await import('../../src/data/paths.ts');
  assert.equal(sharedDir({ PREFIX_TUNING_SHARED: '/srv/shared' }), '/srv/shared');
  assert.ok(sharedDir({}).endsWith('/shared'));
  assert.equal(cacheRoot({ PREFIX_TUNING_CACHE: '/c' }), '/c');
  assert.equal(cacheRoot({ XDG_CACHE_HOME: '/x' }), '/x/prefix-tuning');
  assert.equal(datasetCacheDir('e2e', { PREFIX_TUNING_CACHE: '/c' }), '/c/datasets/e2e');
  assert.match(cacheRoot({}), /\.cache\/prefix-tuning$/);
});
