import { TributaryError } from './errors.ts';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/** Parses "500ms", "30s", "5m", "2h", "1d" into milliseconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) {
    throw new TributaryError('config_invalid', `"${text}" is not a duration; use e.g. 30s, 5m, 2h or 1d`);
  }
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export const isDuration = (text: string): boolean => DURATION.test(text);

/** 1234 → "1.2s", 75000 → "1m15s": for people, in tables and logs. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalS = Math.round(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}
