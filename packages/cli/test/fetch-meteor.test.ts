/**
 * METEOR never changes definition silently (issue 18.4): without METEOR 1.5's data every METEOR
 * figure says it is approximate; `prefix-tune fetch-meteor` installs the data from a PyPI-style
 * index (here a synthetic pycocoevalcap wheel served from 127.0.0.1, not real content), checking
 * the sha256 the index publishes, after which METEOR uses it by default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { METEOR_APPROXIMATE_NOTE } from '@prefix-tuning/tasks';
import { repoRoot } from './train-fixture.ts';

const MAIN = join(repoRoot, 'packages/cli/src/main.ts');

/** A stored (uncompressed) zip of `files`. */
const zip = (files: Record<string, Buffer>): Buffer => {
  const locals: Buffer[] = [], centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(n.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(centrals.length / 2, 8); end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
};

// a made-up METEOR: its own function words, one synonym set, one paraphrase ("eatery" = "restaurant")
const jar = zip({
  'function/english.words': Buffer.from('the\na\nis\nin\nof\n'),
  'synonym/english.synsets': Buffer.from('pub\n100 200\nbar\n100\n'),
  'synonym/english.exceptions': Buffer.from(''),
  'nonbreaking/english.prefixes': Buffer.from('Mr\n'),
});
const paraphrase = gzipSync(Buffer.from('0.5\neatery\nrestaurant\n0.5\nrestaurant\neatery\n'));
const wheel = zip({
  'pycocoevalcap/__init__.py': Buffer.from(''),
  'pycocoevalcap/meteor/meteor-1.5.jar': jar,
  'pycocoevalcap/meteor/data/paraphrase-en.gz': paraphrase,
});

/** A PyPI JSON API for pycocoevalcap on 127.0.0.1, publishing `sha` for the wheel; closed by the caller. */
const index = async (sha: string): Promise<{ url: string; server: Server; hits: string[] }> => {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    if (req.url === '/pypi/pycocoevalcap/json') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ info: { version: '9.9' }, urls: [
        { filename: 'pycocoevalcap-9.9.tar.gz', packagetype: 'sdist', url: `${base}/files/sdist.tar.gz`, digests: { sha256: '0'.repeat(64) } },
        { filename: 'pycocoevalcap-9.9-py3-none-any.whl', packagetype: 'bdist_wheel', url: `${base}/files/p.whl`, digests: { sha256: sha } },
      ] }));
    } else if (req.url === '/files/p.whl') res.end(wheel);
    else { res.statusCode = 404; res.end(); }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  server.unref();
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/pypi`, server, hits };
};

/** The CLI as a child process (async: the index server answers in this process meanwhile). */
const run = (args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((ok) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: repoRoot, env: { ...process.env, PREFIX_TUNING_METEOR_DATA: '', ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += String(d); });
    p.stderr.on('data', (d) => { stderr += String(d); });
    p.on('close', (code) => ok({ code, stdout, stderr }));
  });

const pairs = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-meteor-'));
  writeFileSync(join(dir, 'refs.txt'), 'the restaurant is in the city centre\nthe pub is cheap\n');
  writeFileSync(join(dir, 'hyp.txt'), 'the eatery is in the city centre\nthe bar is cheap\n');
  return dir;
};

test('score without METEOR data marks METEOR as approximate (text beside the figure; --json on stderr)', async () => {
  const dir = pairs();
  const env = { PREFIX_TUNING_CACHE: mkdtempSync(join(tmpdir(), 'pt-cache-')) };
  const r = await run(['score', '-r', join(dir, 'refs.txt'), '-y', join(dir, 'hyp.txt'), '--metrics', 'bleu,meteor'], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[1]!, /^bleu: 0\.\d{4}$/);
  assert.equal(lines[2], `${lines[2]!.split(' ').slice(0, 2).join(' ')} (${METEOR_APPROXIMATE_NOTE})`);
  assert.match(lines[2]!, /^meteor: 0\.\d{4} \(no paraphrase data: approximate, up to 0\.01 below METEOR 1\.5; run prefix-tune fetch-meteor\)$/);
  const j = await run(['score', '-r', join(dir, 'refs.txt'), '-y', join(dir, 'hyp.txt'), '--metrics', 'meteor', '--json'], env);
  assert.equal(j.code, 0, j.stderr);
  assert.deepEqual(Object.keys(JSON.parse(j.stdout) as object), ['meteor']);
  assert.equal(j.stderr.trim(), `note: METEOR (${METEOR_APPROXIMATE_NOTE})`);
});

test('fetch-meteor installs the jar and paraphrase table from the index (sha256 checked); METEOR then uses them by default', async () => {
  const sha = createHash('sha256').update(wheel).digest('hex');
  const ix = await index(sha);
  const cache = mkdtempSync(join(tmpdir(), 'pt-cache-'));
  try {
    const dir = pairs();
    const before = await run(['score', '-r', join(dir, 'refs.txt'), '-y', join(dir, 'hyp.txt'), '--metrics', 'meteor', '--json'], { PREFIX_TUNING_CACHE: cache });
    const f = await run(['fetch-meteor', '--index-url', ix.url], { PREFIX_TUNING_CACHE: cache });
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /installed METEOR 1\.5 data from pycocoevalcap-9\.9-py3-none-any\.whl/);
    assert.deepEqual(ix.hits, ['/pypi/pycocoevalcap/json', '/files/p.whl']); // the wheel, not the sdist
    assert.ok(readFileSync(join(cache, 'meteor-1.5', 'meteor-1.5.jar')).equals(jar));
    assert.ok(readFileSync(join(cache, 'meteor-1.5', 'data', 'paraphrase-en.gz')).equals(paraphrase));
    // the same env var overrides the default index
    const viaEnv = await run(['fetch-meteor'], { PREFIX_TUNING_CACHE: mkdtempSync(join(tmpdir(), 'pt-cache-')), PREFIX_TUNING_PYPI_URL: ix.url });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    const after = await run(['score', '-r', join(dir, 'refs.txt'), '-y', join(dir, 'hyp.txt'), '--metrics', 'meteor'], { PREFIX_TUNING_CACHE: cache });
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout.trim().split('\n')[1]!, /^meteor: \d\.\d{4}$/); // no note: METEOR 1.5's own data
    // with "eatery" = "restaurant" and "bar" ~ "pub" the score rises over the built-in configuration
    const a = Number(after.stdout.trim().split('\n')[1]!.split(' ')[1]);
    assert.ok(a > (JSON.parse(before.stdout) as { meteor: number }).meteor, `${a} vs ${before.stdout}`);
  } finally {
    ix.server.close();
  }
});

test('fetch-meteor refuses a download whose sha256 differs from the index, and installs nothing', async () => {
  const ix = await index('f'.repeat(64));
  const cache = mkdtempSync(join(tmpdir(), 'pt-cache-'));
  try {
    const f = await run(['fetch-meteor', '--index-url', ix.url], { PREFIX_TUNING_CACHE: cache });
    assert.equal(f.code, 1);
    assert.match(f.stderr, /^prefix-tune fetch-meteor: pycocoevalcap-9\.9-py3-none-any\.whl: sha256 [0-9a-f]{64} differs from the index's f{64}: not installed$/m);
    assert.ok(!existsSync(join(cache, 'meteor-1.5')));
    const none = await run(['fetch-meteor', '--index-url', `${ix.url}/nothing`], { PREFIX_TUNING_CACHE: cache });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /HTTP 404/);
  } finally {
    ix.server.close();
  }
});
