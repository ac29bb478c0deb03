/**
 * `train-log.jsonl`: one JSON object per optimizer step and one per epoch, appended as training
 * goes. Records are io-ts values; reading skips a torn last line (a crash mid-write), and a
 * resumed run first cuts the log back to its checkpoint so no step is recorded twice.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { writeFileAtomic } from './files.ts';

export const LOG_FILE = 'train-log.jsonl';

export const StepRecordC = t.type({
  type: t.literal('step'),
  step: t.number,
  /** 1-based epoch the step belongs to. */
  epoch: t.number,
  loss: t.number,
  lr: t.number,
  grad_norm: t.number,
  tokens: t.number,
  tokens_per_s: t.number,
  /** Seconds of training so far (summed over resumed runs). */
  elapsed: t.number,
}, 'StepRecord');
export type StepRecord = t.TypeOf<typeof StepRecordC>;

export const EpochRecordC = t.type({
  type: t.literal('epoch'),
  epoch: t.number,
  step: t.number,
  train_loss: t.number,
  dev_loss: t.union([t.number, t.null]),
  best: t.boolean,
  elapsed: t.number,
}, 'EpochRecord');
export type EpochRecord = t.TypeOf<typeof EpochRecordC>;

export const LogRecordC = t.union([StepRecordC, EpochRecordC]);
export type LogRecord = t.TypeOf<typeof LogRecordC>;

/** Parses a log's text; lines that are not records (a torn last line) are skipped. */
export const parseLog = (text: string): LogRecord[] =>
  text.split('\n').flatMap((line) => {
    if (line.trim() === '') return [];
    try {
      const r = LogRecordC.decode(JSON.parse(line));
      return E.isRight(r) ? [r.right] : [];
    } catch {
      return [];
    }
  });

/** Reads a log file ([] when absent). */
export const readLog = (path: string): LogRecord[] => (existsSync(path) ? parseLog(readFileSync(path, 'utf8')) : []);

/** Keeps the records up to a checkpoint (step ≤ `step`, epoch ≤ `epoch`) and rewrites the file atomically. */
export const truncateLog = async (path: string, step: number, epoch: number): Promise<LogRecord[]> => {
  const kept = readLog(path).filter((r) => (r.type === 'step' ? r.step <= step : r.epoch <= epoch));
  const w = await writeFileAtomic(path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  if (E.isLeft(w)) throw new Error(w.left);
  return kept;
};

/** Appends one record. */
export const appendLog = (path: string, r: LogRecord): void => appendFileSync(path, `${JSON.stringify(r)}\n`);
