import type { Destination } from '../destination.ts';
import { PostgresDestination } from './postgres-destination.ts';

/**
 * Opens a PostgreSQL destination and checks that the server answers, so a wrong URL or a
 * stopped server is reported at start (destination_unavailable, transient) rather than mid-run.
 */
export async function createPostgresDestination(url: string): Promise<Destination> {
  const destination = new PostgresDestination(url);
  try {
    await destination.query('SELECT 1');
  } catch (err) {
    await destination.close();
    throw err;
  }
  return destination;
}

export { PostgresDestination };
