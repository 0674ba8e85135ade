import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import type { Logger } from '../core/types.ts';

/**
 * The service logs JSON lines through pino (Fastify's own logger), to stdout. Authorization
 * headers and anything under a secret-looking key are censored before a line is written.
 */
export function createServicePino(options: { level?: string; stream?: DestinationStream } = {}): Pino {
  return pino(
    {
      level: options.level ?? process.env.TRIBUTARY_LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          '*.token',
          '*.password',
          '*.secret',
          '*.apiKey',
        ],
        censor: '<redacted>',
      },
    },
    options.stream ?? process.stdout,
  );
}

/** The engine's Logger interface over pino. */
export function engineLogger(p: Pino): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
  };
}
