/**
 * SIGINT, SIGTERM and SIGHUP as a request to stop: the first sets a flag the training loop
 * polls (it checkpoints, then the command exits with 128 + the signal's number); a second one
 * exits at once (the last checkpoint on disk stands).
 */
import { constants } from 'node:os';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

export interface StopRequest {
  /** The signal received, if any. */
  readonly signal: () => StopSignal | undefined;
  /** The exit code for it (130, 143, 129). */
  readonly exitCode: () => number;
  readonly dispose: () => void;
}

export const exitCodeOf = (s: StopSignal): number => 128 + constants.signals[s];

/** Installs the handlers; `say` prints the first signal's line. */
export const onStopSignals = (say: (line: string) => void): StopRequest => {
  let got: StopSignal | undefined;
  const handlers = STOP_SIGNALS.map((s) => {
    const h = () => {
      if (got !== undefined) process.exit(exitCodeOf(got));
      got = s;
      say(`${s === 'SIGINT' ? 'interrupt' : s}: saving a checkpoint (${s === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to quit at once)`);
    };
    process.on(s, h);
    return [s, h] as const;
  });
  return {
    signal: () => got,
    exitCode: () => (got === undefined ? 0 : exitCodeOf(got)),
    dispose: () => { for (const [s, h] of handlers) process.off(s, h); },
  };
};
