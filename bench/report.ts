import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** One measured run. seconds is wall time from spawn to exit. */
export interface Sample {
  seconds: number;
  peakRssMb?: number | null;
  timeRssMb?: number | null;
  durationMs?: number | null;
  walClusterBytes?: number;
  walBenchDbBytes?: number | null;
  /** Why the run does not count (failed, wrong counts); absent when it is valid. */
  problem?: string;
}

export type Measure = 'copy' | 'csvPg' | 'jsonlPg' | 'noopPg' | 'sqliteImport' | 'csvSqlite';

export interface BenchResults {
  date: string;
  machine: Record<string, string>;
  rows: number;
  repeat: number;
  samples: Partial<Record<Measure, Sample[]>>;
  /** Peak RSS of the same Tributary runs at 100,000 rows, for the "memory is flat" check. */
  small: { rows: number; samples: Partial<Record<Measure, Sample[]>> } | null;
  notes: string[];
}

const LABELS: Record<Measure, string> = {
  copy: 'psql \\copy CSV → PostgreSQL (limit)',
  csvPg: 'Tributary CSV → PostgreSQL, merge into empty table',
  jsonlPg: 'Tributary JSONL → PostgreSQL, merge into empty table',
  noopPg: 'Tributary no-op re-sync, CSV → loaded PostgreSQL table',
  sqliteImport: 'sqlite3 .import CSV → SQLite (limit)',
  csvSqlite: 'Tributary CSV → SQLite, fresh file',
};
const RSS_LIMIT_MB = 250;
const FLAT_RATIO = 1.3;
const WAL_LIMIT_BYTES = 1024 * 1024;

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const valid = (samples: Sample[] | undefined): Sample[] => (samples ?? []).filter((s) => !s.problem);
const medianSeconds = (samples: Sample[] | undefined): number | null =>
  median(valid(samples).map((s) => s.seconds));
const maxRss = (samples: Sample[] | undefined): number | null => {
  const v = valid(samples).flatMap((s) => (s.peakRssMb == null ? [] : [s.peakRssMb]));
  return v.length ? Math.max(...v) : null;
};

const fmt = (n: number | null, digits = 2): string => (n == null ? '–' : n.toFixed(digits));
const met = (ok: boolean | null): string => (ok == null ? 'not measured' : ok ? '**met**' : '**not met**');

/** The results table as Markdown (also what the console shows). */
export function renderTable(r: BenchResults): string {
  const limitOf: Partial<Record<Measure, Measure>> = {
    csvPg: 'copy',
    jsonlPg: 'copy',
    noopPg: 'copy',
    csvSqlite: 'sqliteImport',
  };
  const targets: Partial<Record<Measure, number>> = {
    csvPg: 0.7,
    jsonlPg: 0.8,
    noopPg: 1.2,
    csvSqlite: 0.75,
  };
  const lines = [
    '| Measure | Median s | Rows/s | × limit | Peak RSS MB | Target | Result |',
    '|---|---:|---:|---:|---:|---|---|',
  ];
  for (const m of Object.keys(LABELS) as Measure[]) {
    const secs = medianSeconds(r.samples[m]);
    const limit = limitOf[m];
    const limitSecs = limit ? medianSeconds(r.samples[limit]) : null;
    const ratio = secs != null && limitSecs != null ? limitSecs / secs : null;
    const target = targets[m];
    let targetText = limit
      ? `≥ ${fmt(target ?? null)}× ${limit === 'copy' ? '\\copy' : '.import'}`
      : 'reference';
    let ok: boolean | null = ratio == null || target == null ? null : ratio >= target;
    if (m === 'noopPg') {
      // On a shared server the cluster figure includes others' work; the bench database's own
      // WAL (pg_walinspect) is the one judged when available.
      const runs = valid(r.samples.noopPg);
      const cluster = median(runs.flatMap((s) => (s.walClusterBytes == null ? [] : [s.walClusterBytes])));
      const own = median(runs.flatMap((s) => (s.walBenchDbBytes == null ? [] : [s.walBenchDbBytes])));
      const kib = (b: number | null): string => (b == null ? '–' : `${(b / 1024).toFixed(0)} KiB`);
      targetText += `, < 1 MB WAL (bench db ${kib(own)}, cluster ${kib(cluster)})`;
      const judged = own ?? cluster;
      if (ok != null) ok = ok && judged != null && judged < WAL_LIMIT_BYTES;
    }
    const failed = (r.samples[m] ?? []).filter((s) => s.problem).length;
    const resultText = limit
      ? met(ok) + (failed ? ` (${failed} run(s) invalid)` : '')
      : failed
        ? `${failed} run(s) failed`
        : '';
    lines.push(
      `| ${LABELS[m]} | ${fmt(secs)} | ${secs ? Math.round(r.rows / secs).toLocaleString('en-GB') : '–'} | ${fmt(ratio)} | ${limit ? fmt(maxRss(r.samples[m]), 0) : '–'} | ${targetText} | ${resultText} |`,
    );
  }
  const tributary: Measure[] = ['csvPg', 'jsonlPg', 'noopPg', 'csvSqlite'];
  const peak = maxOf(tributary.map((m) => maxRss(r.samples[m])));
  lines.push(
    `| Peak RSS, every Tributary run at ${r.rows.toLocaleString('en-GB')} rows | | | | ${fmt(peak, 0)} | < ${RSS_LIMIT_MB} MB | ${met(peak == null ? null : peak < RSS_LIMIT_MB)} |`,
  );
  if (r.small && r.small.rows !== r.rows) {
    const ratios = tributary.flatMap((m) => {
      const big = maxRss(r.samples[m]);
      const small = maxRss(r.small?.samples[m]);
      return big != null && small != null ? [{ m, big, small, ratio: big / small }] : [];
    });
    const worst = ratios.sort((a, b) => b.ratio - a.ratio)[0];
    lines.push(
      `| Memory flat: peak at ${r.rows.toLocaleString('en-GB')} ÷ peak at ${r.small.rows.toLocaleString('en-GB')} rows (worst: ${worst ? worst.m : '–'}) | | | ${fmt(worst?.ratio ?? null)} | ${worst ? `${fmt(worst.big, 0)} vs ${fmt(worst.small, 0)}` : '–'} | ≤ ${FLAT_RATIO}× | ${met(worst ? worst.ratio <= FLAT_RATIO : null)} |`,
    );
  } else {
    lines.push(
      `| Memory flat (1M vs 100k peak) | | | | | ≤ ${FLAT_RATIO}× | not measured: run with BENCH_ROWS > 100000 |`,
    );
  }
  return lines.join('\n');
}

function maxOf(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x != null);
  return v.length ? Math.max(...v) : null;
}

/** Every run, for the record: wall time, CLI-reported duration, both RSS figures, WAL. */
export function renderDetails(r: BenchResults): string {
  const lines = [
    '| Rows | Measure | Run | Wall s | CLI durationMs | Peak RSS MB (getrusage) | Peak RSS MB (/usr/bin/time) | WAL cluster / bench db | Problem |',
    '|---:|---|---:|---:|---:|---:|---:|---|---|',
  ];
  const add = (rows: number, samples: Partial<Record<Measure, Sample[]>>): void => {
    for (const [m, list] of Object.entries(samples) as [Measure, Sample[]][]) {
      list.forEach((s, i) => {
        const wal =
          s.walClusterBytes == null
            ? ''
            : `${s.walClusterBytes} B / ${s.walBenchDbBytes == null ? '–' : `${s.walBenchDbBytes} B`}`;
        lines.push(
          `| ${rows} | ${m} | ${i + 1} | ${s.seconds.toFixed(3)} | ${s.durationMs ?? ''} | ${fmt(s.peakRssMb ?? null, 1)} | ${fmt(s.timeRssMb ?? null, 1)} | ${wal} | ${s.problem ?? ''} |`,
        );
      });
    }
  };
  add(r.rows, r.samples);
  if (r.small) add(r.small.rows, r.small.samples);
  return lines.join('\n');
}

const LIMITS_HEADING = '## What limits it';
const LIMITS_PLACEHOLDER =
  '_To be filled in by the lead after reading a profile: where the time goes (parse, clean, hash, COPY, merge) and what would move each ratio._';

/** Writes results.md, keeping a "What limits it" section someone has already written. */
export function writeResultsMarkdown(path: string, r: BenchResults): void {
  let limits = LIMITS_PLACEHOLDER;
  if (existsSync(path)) {
    const old = readFileSync(path, 'utf8');
    const at = old.indexOf(LIMITS_HEADING);
    if (at >= 0) limits = old.slice(at + LIMITS_HEADING.length).trim() || LIMITS_PLACEHOLDER;
  }
  const machine = Object.entries(r.machine)
    .map(([k, v]) => `- ${k}: ${v}`)
    .join('\n');
  const notes = r.notes.length ? `\n## Notes\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n` : '';
  writeFileSync(
    path,
    `# Tributary benchmark results

Produced by \`npm run bench\` (bench/run.ts) on ${r.date}: ${r.rows.toLocaleString('en-GB')} rows, median of ${r.repeat} repetition(s).
Ratios are throughput against the physical limit measured in the same run (limit seconds ÷ Tributary seconds);
times are wall clock from process spawn to exit, start-up included, for the limits and for Tributary alike.

## Machine

${machine}

## Results

${renderTable(r)}

## Every run

${renderDetails(r)}
${notes}
${LIMITS_HEADING}

${limits}
`,
  );
}
