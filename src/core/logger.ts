import type { Logger } from './types.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

/**
 * Human-readable log lines on stderr for the CLI (stdout stays clean for --json output and
 * progress bars own the terminal). Level from TRIBUTARY_LOG_LEVEL, default "warn".
 */
export function createStderrLogger(level: LogLevel = envLevel()): Logger {
  const min = LEVELS[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    const extra = fields
      ? Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')
      : '';
    process.stderr.write(`${lvl}: ${msg}${extra ? ` (${extra})` : ''}\n`);
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

function envLevel(): LogLevel {
  const v = process.env.TRIBUTARY_LOG_LEVEL;
  return v && v in LEVELS ? (v as LogLevel) : 'warn';
}
