/**
 * Progress reporting on stderr: a one-line bar redrawn in place on a terminal (loss, tokens/s,
 * ETA), plain log lines otherwise (CI logs, files).
 */
import type { TuneProgress } from '@prefix-tuning/hub';

/** "1h02m", "3m05s", "42s". */
export const formatDuration = (s: number): string => {
  if (!Number.isFinite(s) || s < 0) return '?';
  const t = Math.round(s);
  if (t >= 3600) return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
  if (t >= 60) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${t}s`;
};

const fmtRate = (r: number): string => (r >= 10000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0));

/** What a bar shows: the library's progress of a training run (`tune`'s). */
export type ProgressState = TuneProgress;

/** The bar's text for a terminal `width` columns wide. */
export const barLine = (p: ProgressState, width: number): string => {
  const info = ` ${Math.round((100 * p.done) / Math.max(1, p.total))}% epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)} ${fmtRate(p.tokensPerS)} tok/s ETA ${formatDuration(p.etaS)}`;
  const barW = Math.max(10, Math.min(40, width - info.length - 3));
  const fill = Math.round((barW * p.done) / Math.max(1, p.total));
  return `[${'#'.repeat(fill)}${'.'.repeat(barW - fill)}]${info}`.slice(0, Math.max(20, width - 1));
};

/** A plain progress line. */
export const plainLine = (p: ProgressState): string =>
  `step ${p.step}/${p.totalSteps} epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)} ${fmtRate(p.tokensPerS)} tok/s eta ${formatDuration(p.etaS)}`;

/** A reporter writing to `stream`: in-place bar on a TTY, a line every `every` steps otherwise. */
export const progressReporter = (stream: NodeJS.WriteStream, opts: { readonly every: number; readonly quiet?: boolean }) => {
  const tty = stream.isTTY === true;
  let drawn = false;
  return {
    update(p: ProgressState): void {
      if (opts.quiet) return;
      if (tty) {
        stream.write(`\r${barLine(p, stream.columns ?? 100)}\x1b[K`);
        drawn = true;
      } else if (p.step % opts.every === 0 || p.step === p.totalSteps) stream.write(`${plainLine(p)}\n`);
    },
    /** Prints a full line (clearing the bar first on a terminal). */
    line(text: string): void {
      if (opts.quiet) return;
      if (tty && drawn) stream.write('\r\x1b[K');
      stream.write(`${text}\n`);
      drawn = false;
    },
    end(): void {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
};

/**
 * Progress over `total` items (e.g. eval's inputs): in place on a TTY, else a plain line
 * `LABEL done/total (elapsed, eta)` each time another tenth is done (and at the end), so a log
 * shows a long run moving.
 */
export const countProgress = (stream: NodeJS.WriteStream, total: number, label: string) => {
  const tty = stream.isTTY === true;
  const t0 = performance.now();
  let shown = 0;
  return {
    update(done: number): void {
      if (tty) { stream.write(`\r${label} ${done}/${total}\x1b[K`); return; }
      const tenth = Math.floor((10 * done) / Math.max(1, total));
      if (tenth <= shown && done < total) return;
      if (done === total && shown === 10) return;
      shown = done === total ? 10 : tenth;
      const s = (performance.now() - t0) / 1000;
      stream.write(`${label} ${done}/${total} (${formatDuration(s)}${done < total && done > 0 ? `, eta ${formatDuration((s * (total - done)) / done)}` : ''})\n`);
    },
    end(): void {
      if (tty) stream.write('\r\x1b[K');
    },
  };
};
