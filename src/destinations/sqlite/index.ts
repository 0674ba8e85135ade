import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { TributaryError, errorMessage } from '../../core/errors.ts';
import type { Destination } from '../destination.ts';
import { SqliteDestination } from './sqlite-destination.ts';

export { SqliteDestination } from './sqlite-destination.ts';

/**
 * Opens (creating when absent) the SQLite database at `path`, resolved against `baseDir`;
 * ':memory:' gives a private in-memory database. Parent directories are created.
 */
export async function createSqliteDestination(path: string, baseDir: string): Promise<Destination> {
  const file = path === ':memory:' || path === '' ? ':memory:' : resolve(baseDir, path);
  try {
    if (file !== ':memory:') await mkdir(dirname(file), { recursive: true });
    const db = new Database(file);
    // WAL: readers (dashboard, CLI) never block the writer. synchronous=NORMAL: no fsync per
    // commit in WAL mode; a power cut can lose the last commits but never corrupts, and the
    // runner resumes from the last checkpoint that survived. busy_timeout: another process
    // holding the write lock is waited for before SQLITE_BUSY surfaces as a transient error.
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    return new SqliteDestination(db, `sqlite:${file}`);
  } catch (err) {
    throw new TributaryError(
      'destination_unavailable',
      `cannot open SQLite database ${file}: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
}
