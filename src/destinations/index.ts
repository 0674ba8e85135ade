import { TributaryError } from '../core/errors.ts';
import type { Destination } from './destination.ts';

/**
 * Opens the destination named by a database URL:
 *   sqlite:./data/tributary.db   sqlite:/abs/path.db   sqlite::memory:
 *   postgres://user:pass@host:5432/db   (postgresql:// too)
 * Paths of sqlite URLs are resolved against `baseDir`.
 */
export async function openDestination(url: string, baseDir = process.cwd()): Promise<Destination> {
  if (url.startsWith('sqlite:')) {
    const { createSqliteDestination } = await import('./sqlite/index.ts');
    return createSqliteDestination(url.slice('sqlite:'.length), baseDir);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { createPostgresDestination } = await import('./postgres/index.ts');
    return createPostgresDestination(url);
  }
  throw new TributaryError(
    'config_invalid',
    `database: "${redactUrl(url)}" is not a database URL; use sqlite:./data/tributary.db or postgres://user@host/db`,
  );
}

/** Hides the password of a URL, for logs, errors and `tributary config`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]+:)[^@]*@/i, '$1***@');
}
