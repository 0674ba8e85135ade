import cliProgress from 'cli-progress';
import { formatDuration } from '../core/duration.ts';
import type { RunEvent, RunEventListener } from '../core/events.ts';
import { fmtInt } from './format.ts';

/**
 * Shows a run's progress on stderr: a live bar on a terminal (records, rate, elapsed, and a
 * percentage when the source knows its size), plain lines otherwise — at most one every few
 * seconds, so logs of a long import stay readable.
 */
export interface ProgressDisplay {
  listener: RunEventListener;
  stop(): void;
}

const PLAIN_INTERVAL_MS = 5_000;

export function createProgress(options: { tty: boolean; quiet: boolean }): ProgressDisplay {
  if (options.quiet) return { listener: () => {}, stop: () => {} };
  return options.tty ? barProgress() : plainProgress();
}

function summary(e: Extract<RunEvent, { type: 'batch.written' | 'run.finished' }>): string {
  const c = e.counts;
  return `read ${fmtInt(c.read)} · new ${fmtInt(c.inserted)} · changed ${fmtInt(c.updated)} · unchanged ${fmtInt(c.unchanged)}${
    c.deleted ? ` · deleted ${fmtInt(c.deleted)}` : ''
  }${c.quarantined ? ` · quarantined ${fmtInt(c.quarantined)}` : ''}`;
}

function finishedLine(e: Extract<RunEvent, { type: 'run.finished' }>): string {
  const rate = e.durationMs > 0 ? (e.counts.read / e.durationMs) * 1000 : 0;
  return `${e.sync}: ${e.status} in ${formatDuration(e.durationMs)} (run ${e.runId}) — ${summary(e)}${
    rate > 0 ? ` · ${fmtInt(rate)} records/s` : ''
  }${e.error ? `\n  ${e.error}` : ''}${
    e.counts.quarantined && !e.error
      ? `\n  rejected records and why: tributary quarantine --run ${e.runId}`
      : ''
  }\n`;
}

function plainProgress(): ProgressDisplay {
  const last = new Map<number, number>();
  return {
    listener(e) {
      if (e.type === 'run.started') {
        process.stderr.write(
          `${e.sync}: run ${e.runId} started (${e.fullRefresh ? 'full' : 'incremental'}${e.resumed ? ', resuming the open pass' : ''})\n`,
        );
      } else if (e.type === 'batch.written') {
        const now = Date.now();
        if (now - (last.get(e.runId) ?? 0) < PLAIN_INTERVAL_MS) return;
        last.set(e.runId, now);
        const pct =
          e.progress && e.progress.total > 0
            ? ` ${Math.floor((100 * e.progress.done) / e.progress.total)}%`
            : '';
        process.stderr.write(`${e.sync}:${pct} ${summary(e)} · ${fmtInt(e.rate)} records/s\n`);
      } else {
        process.stderr.write(finishedLine(e));
      }
    },
    stop() {},
  };
}

function barProgress(): ProgressDisplay {
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: '{sync} {bar} {pct} | {read} records | {rate}/s | {elapsed} | {detail}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 8,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<number, { bar: cliProgress.SingleBar; started: number }>();
  return {
    listener(e) {
      if (e.type === 'run.started') {
        const bar = multi.create(100, 0, {
          sync: e.sync,
          pct: '   ',
          read: '0',
          rate: '0',
          elapsed: '0s',
          detail: e.resumed ? 'resuming' : 'starting',
        });
        bars.set(e.runId, { bar, started: Date.now() });
      } else if (e.type === 'batch.written') {
        const entry = bars.get(e.runId);
        if (!entry) return;
        const pct =
          e.progress && e.progress.total > 0 ? Math.floor((100 * e.progress.done) / e.progress.total) : null;
        entry.bar.update(pct ?? 0, {
          pct: pct === null ? '   ' : `${String(pct).padStart(3)}%`,
          read: fmtInt(e.counts.read),
          rate: fmtInt(e.rate),
          elapsed: formatDuration(Date.now() - entry.started),
          detail: `new ${fmtInt(e.counts.inserted)} changed ${fmtInt(e.counts.updated)} unchanged ${fmtInt(e.counts.unchanged)}${
            e.counts.quarantined ? ` quarantined ${fmtInt(e.counts.quarantined)}` : ''
          }${e.etaMs !== undefined ? ` eta ${formatDuration(e.etaMs)}` : ''}`,
        });
      } else {
        const entry = bars.get(e.runId);
        if (entry) {
          entry.bar.update(
            e.status === 'succeeded' || e.status === 'partial' ? 100 : entry.bar.getProgress() * 100,
            {
              pct: e.status === 'succeeded' || e.status === 'partial' ? '100%' : '   ',
              read: fmtInt(e.counts.read),
              elapsed: formatDuration(e.durationMs),
              detail: e.status,
            },
          );
          entry.bar.stop();
        }
        multi.log(finishedLine(e));
        // log() output appears on the next redraw; force one, or a finished run's summary is lost.
        multi.update();
      }
    },
    stop() {
      multi.stop();
    },
  };
}
