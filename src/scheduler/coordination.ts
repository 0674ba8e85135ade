import type { Logger } from '../core/types.ts';
import { LocalEventBus, PgNotifyBus, type EventBus } from './event-bus.ts';
import { InProcessQueue, type JobQueue } from './job-queue.ts';

/**
 * How instances share work. The one place that looks at the database URL's scheme: with the
 * embedded SQLite database there is one process, so the queue and the event bus are in memory;
 * on PostgreSQL any number of instances share a pg-boss queue and LISTEN/NOTIFY events. The
 * scheduler, executor and API above are the same code either way.
 */
export async function createCoordination(
  databaseUrl: string,
  instance: string,
  logger: Logger,
): Promise<{ queue: JobQueue; bus: EventBus }> {
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    const { PgBossQueue } = await import('./pg-boss-queue.ts');
    const queue = await PgBossQueue.start(databaseUrl, logger);
    try {
      return { queue, bus: await PgNotifyBus.start(databaseUrl, instance, logger) };
    } catch (err) {
      await queue.close();
      throw err;
    }
  }
  return { queue: new InProcessQueue(logger), bus: new LocalEventBus(instance) };
}
