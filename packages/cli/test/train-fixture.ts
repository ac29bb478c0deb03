/**
 * Test fixture for the CLI's training tests: a temporary copy of the random-weight
 * `fixtures/models/gpt2-tiny` (vocab 128) with a word-level tokenizer generated here from E2E
 * text, so real E2E pairs map to ids < 128 and `loadModel` works end to end. The tokenizer is
 * a WordPiece model over the most frequent words (everything else is [UNK]); id 91 is
 * `<|endoftext|>`, the model's BOS/EOS.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const sharedDir = process.env['PREFIX_TUNING_SHARED'] ?? resolve(repoRoot, '..', 'shared');
export const e2eDir = join(sharedDir, 'data', 'e2e');
const MAIN = join(repoRoot, 'packages', 'cli', 'src', 'main.ts');

/** Words of a text as the tokenizer's `Whitespace` pre-tokenizer splits them. */
const words = (s: string): string[] => s.match(/\w+|[^\w\s]+/gu) ?? [];

/**
 * Builds a WordPiece tokenizer.json over the words of `forced` and then the most frequent words
 * of `texts` (ties by first occurrence), `vocabSize` ids in all.
 */
export const wordTokenizerJson = (forced: readonly string[], texts: readonly string[], vocabSize = 128, eosId = 91, unkId = 0): object => {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of words(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const first = [...new Set(forced.flatMap(words))];
  const top = [...first, ...[...counts.entries()].sort((a, b) => b[1] - a[1]).map(([w]) => w).filter((w) => !first.includes(w))];
  const vocab: Record<string, number> = {};
  const free = Array.from({ length: vocabSize }, (_, i) => i).filter((i) => i !== eosId && i !== unkId);
  vocab['[UNK]'] = unkId;
  vocab['<|endoftext|>'] = eosId;
  top.slice(0, free.length).forEach((w, i) => { vocab[w] = free[i]!; });
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(unkId, '[UNK]'), special(eosId, '<|endoftext|>')],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
};

/** The first `n` rows of an E2E csv as raw text (MR and reference), for building the vocabulary. */
const e2eTexts = (n: number): string[] => readFileSync(join(e2eDir, 'trainset.csv'), 'utf8').split('\n').slice(1, n + 1);

/** A temporary model directory: gpt2-tiny + the generated tokenizer. Remove it with `rmSync(dir, { recursive: true })`. */
export const tinyModelDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-cli-model-'));
  cpSync(join(repoRoot, 'fixtures', 'models', 'gpt2-tiny'), dir, { recursive: true });
  // the linearised sources use the official attribute names ("name : X | Type : Y")
  const keys = ['name : | Type : | food : | price : | customer rating : | area : | family friendly : | near :'];
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordTokenizerJson(keys, e2eTexts(3000))));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '[UNK]', clean_up_tokenization_spaces: true }));
  return dir;
};

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));
export const rmrf = (p: string): void => rmSync(p, { recursive: true, force: true });

export interface CliResult { readonly code: number | null; readonly stdout: string; readonly stderr: string }

/** Runs `prefix-tune ...args` to completion. */
export const cli = (args: readonly string[], env: Record<string, string> = {}): CliResult => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 170_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** Starts `prefix-tune ...args` (for signals). */
export const cliSpawn = (args: readonly string[]): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });

/** Tensors of a safetensors file (F32 and I32 only), parsed here independently of the library. */
export const readSafetensors = (path: string): Map<string, { dtype: string; shape: number[]; data: Float32Array | Int32Array }> => {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { dtype: string; shape: number[]; data: Float32Array | Int32Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const raw = b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    const copy = new Uint8Array(raw).buffer;
    out.set(name, { dtype: t.dtype, shape: t.shape, data: t.dtype === 'I32' ? new Int32Array(copy) : new Float32Array(copy) });
  }
  return out;
};

/** Checks that an XML/SVG text is well-formed enough: one root, balanced tags, quoted attributes. Returns the tag names in order. */
export const xmlTags = (text: string): string[] => {
  const tags: string[] = [];
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (/[<>]/.test(text.slice(last, m.index))) throw new Error(`stray markup before offset ${m.index}`);
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (close) {
      if (stack.pop() !== name) throw new Error(`unbalanced </${name}> at ${m.index}`);
    } else {
      tags.push(name!);
      if (!self) stack.push(name!);
    }
    if (stack.length === 0 && re.lastIndex < text.trimEnd().length) throw new Error('content after the root element');
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (/[<>]/.test(text.slice(last))) throw new Error('stray markup at the end');
  return tags;
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The step of the run's last checkpoint in `out` (undefined while there is none, or mid-write). */
export const manifestStep = (out: string): number | undefined => {
  try {
    return (JSON.parse(readFileSync(join(out, 'checkpoint', 'checkpoint.json'), 'utf8')) as { counters: { step: number } }).counters.step;
  } catch {
    return undefined;
  }
};

/** The prefix the run in `out` exported. */
export const adapterOf = (out: string) => readSafetensors(join(out, 'adapter', 'adapter_model.safetensors')).get('prompt_embeddings')!.data;

/** The run's train-log.jsonl without its timings (which differ between identical runs). */
export const stepLog = (out: string) => readFileSync(join(out, 'train-log.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  .map(({ elapsed: _e, tokens_per_s: _t, ...rest }) => rest);
