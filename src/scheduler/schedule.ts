import { Cron } from 'croner';
import { TributaryError } from '../core/errors.ts';

/**
 * A schedule as users write it, in the config (`schedule:`), on the CLI (`tributary schedule`)
 * and through the API (`PATCH /api/syncs/:name`):
 *
 *   every 30s | every 5m | every 2h | every 1d     a fixed interval
 *   0 6,18 * * *                                    a cron expression (5 fields, or 6 with seconds)
 *   TZ=Europe/Berlin 0 6 * * *                      a cron expression in a time zone (CRON_TZ= too)
 *   off                                             no schedule (runtime switch only)
 *
 * Without a TZ= prefix a cron expression runs in the service's time zone (`service.timezone`,
 * default UTC, so every instance agrees whatever its machine's zone).
 */
export interface Schedule {
  /** The text it was parsed from, trimmed. */
  spec: string;
  kind: 'cron' | 'interval';
  /** The time zone a cron expression is read in. */
  timezone: string | null;
  /**
   * The first tick strictly after `now`. `previous` (the tick just claimed) anchors intervals, so
   * "every 10m" keeps its cadence instead of drifting by the time each tick took to claim.
   */
  next(now: Date, previous?: Date): Date;
}

const INTERVAL = /^every\s+(\d+)\s*(s|m|h|d)$/i;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Shorter intervals would let ticks pile up faster than one tick loop (1 s) claims them. */
const MIN_INTERVAL_MS = 1000;

export const SCHEDULE_OFF = 'off';

export function parseSchedule(text: string, defaultTimezone = 'UTC'): Schedule {
  const spec = text.trim();
  const interval = INTERVAL.exec(spec);
  if (interval) {
    const ms = Number(interval[1]) * UNIT_MS[interval[2]!.toLowerCase() as keyof typeof UNIT_MS];
    if (ms < MIN_INTERVAL_MS) throw invalid(spec, 'the shortest interval is every 1s');
    return {
      spec,
      kind: 'interval',
      timezone: null,
      next(now, previous) {
        if (!previous) return new Date(now.getTime() + ms);
        // Skip every tick missed while down or stopped: the next one after now, on the same cadence.
        const periods = Math.max(1, Math.floor((now.getTime() - previous.getTime()) / ms) + 1);
        return new Date(previous.getTime() + periods * ms);
      },
    };
  }
  let pattern = spec;
  let timezone = defaultTimezone;
  const tz = /^(?:CRON_)?TZ=(\S+)\s+(.+)$/.exec(spec);
  if (tz) {
    timezone = tz[1]!;
    pattern = tz[2]!;
  }
  if (!isTimeZone(timezone))
    throw invalid(spec, `unknown time zone "${timezone}"; use an IANA name such as Europe/Berlin`);
  let cron: Cron;
  try {
    // domAndDow false: "0 0 1 * MON" fires on the 1st OR on Mondays, as Vixie cron does.
    cron = new Cron(pattern, { timezone, domAndDow: false });
  } catch (err) {
    throw invalid(spec, err instanceof Error ? err.message.replace(/^CronPattern: /, '') : String(err));
  }
  if (cron.nextRun() === null) throw invalid(spec, 'it never fires');
  return {
    spec,
    kind: 'cron',
    timezone,
    next(now) {
      const next = cron.nextRun(now);
      // nextRun() only returns null for patterns that never fire, rejected above; a far-future
      // date keeps the type simple should it ever happen.
      return next ?? new Date(8.64e15);
    },
  };
}

/** Parses and reports problems as a message instead of throwing (config and API validation). */
export function scheduleProblem(text: string, defaultTimezone?: string): string | null {
  if (text.trim() === SCHEDULE_OFF) return null;
  try {
    parseSchedule(text, defaultTimezone);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function invalid(spec: string, why: string): TributaryError {
  return new TributaryError(
    'usage',
    `schedule "${spec}" is not valid: ${why}; write a cron expression ("0 6,18 * * *", optionally "TZ=Europe/Berlin 0 6 * * *"), "every 30m", or off`,
  );
}
