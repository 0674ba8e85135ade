import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RunEvent } from '../core/events.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger, RunTrigger } from '../core/types.ts';

/**
 * What the service streams on /api/events: the runner's RunEvents plus two service events.
 * Every event names its sync; run events name their run.
 */
export type ServiceEvent =
  | RunEvent
  | { type: 'run.queued'; runId: number; sync: string; trigger: RunTrigger; at: string }
  | { type: 'tick.skipped'; sync: string; reason: string; at: string };

/**
 * `origin` is the instance the event came from; `id` is the event's id, given once by that
 * instance (`<instance epoch>-<n>`), so every instance knows an event by the same id and an SSE
 * client can resume on any of them.
 */
export type ServiceEventListener = (event: ServiceEvent, origin: string, id: string) => void;

/** Ids for the events this process publishes: a random epoch per process, then a counter. */
class EventIds {
  readonly epoch = randomBytes(4).toString('hex');
  #seq = 0;
  next(): string {
    return `${this.epoch}-${++this.#seq}`;
  }
}

/**
 * Carries events from the instance where they happen to every instance, so an SSE client on any
 * instance sees runs executing anywhere. `origin` is the instance id the event came from.
 */
export interface EventBus {
  readonly kind: string;
  publish(event: ServiceEvent): void;
  subscribe(listener: ServiceEventListener): () => void;
  /**
   * Called when events of other instances may have been missed (the connection that carries
   * them was lost and is back), with the reason. A bus within one process never has gaps.
   */
  onGap(listener: (reason: string) => void): () => void;
  close(): Promise<void>;
}

/** Embedded mode: one process, so publishing is calling the listeners. */
export class LocalEventBus implements EventBus {
  readonly kind = 'local';
  readonly #listeners = new Set<ServiceEventListener>();
  readonly #ids = new EventIds();
  constructor(readonly instance: string) {}

  publish(event: ServiceEvent): void {
    const id = this.#ids.next();
    for (const l of this.#listeners) l(event, this.instance, id);
  }

  subscribe(listener: ServiceEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onGap(): () => void {
    return () => {};
  }

  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }
}

const CHANNEL = 'tributary_events';
/** NOTIFY payloads must stay under 8000 bytes; events are a few hundred. */
const MAX_PAYLOAD = 7900;
const RECONNECT_MS = 1000;

/**
 * PostgreSQL mode: LISTEN/NOTIFY on one dedicated connection. Local listeners get local events
 * at once (not through the server), and notifications from this instance are ignored, so a lost
 * connection never hides this instance's own runs; it is re-established in the background.
 */
export class PgNotifyBus implements EventBus {
  readonly kind = 'postgres-notify';
  readonly #subscribers = new Set<ServiceEventListener>();
  readonly #gapListeners = new Set<(reason: string) => void>();
  readonly #ids = new EventIds();
  #client: pg.Client | null = null;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly url: string,
    readonly instance: string,
    readonly logger: Logger,
  ) {}

  static async start(url: string, instance: string, logger: Logger): Promise<PgNotifyBus> {
    const bus = new PgNotifyBus(url, instance, logger);
    await bus.#connect();
    return bus;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: 'tributary-events',
      keepAlive: true,
    });
    client.on('error', (err) => {
      this.logger.warn(`event bus connection lost: ${errorMessage(err)}`);
      this.#lost(client);
    });
    client.on('end', () => this.#lost(client));
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      try {
        const { i, id, e } = JSON.parse(n.payload) as { i: string; id: string; e: ServiceEvent };
        if (i === this.instance) return;
        for (const l of this.#subscribers) l(e, i, id);
      } catch (err) {
        this.logger.warn(`event bus: bad notification: ${errorMessage(err)}`);
      }
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#client = client;
  }

  #lost(client: pg.Client): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => {});
    this.#retry();
  }

  #retry(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#connect().then(
        () => {
          this.logger.info('event bus reconnected; events of other instances may have been missed');
          for (const l of this.#gapListeners) l('the connection to the other instances was lost and is back');
        },
        (err: unknown) => {
          this.logger.warn(`event bus reconnect failed: ${errorMessage(err)}`);
          this.#retry();
        },
      );
    }, RECONNECT_MS);
    this.#timer.unref();
  }

  publish(event: ServiceEvent): void {
    const id = this.#ids.next();
    for (const l of this.#subscribers) l(event, this.instance, id);
    const payload = JSON.stringify({ i: this.instance, id, e: event });
    if (payload.length > MAX_PAYLOAD || !this.#client) return;
    this.#client.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch((err: unknown) => {
      this.logger.warn(`event bus: could not publish: ${errorMessage(err)}`);
    });
  }

  subscribe(listener: ServiceEventListener): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  onGap(listener: (reason: string) => void): () => void {
    this.#gapListeners.add(listener);
    return () => this.#gapListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#gapListeners.clear();
    clearTimeout(this.#timer);
    this.#subscribers.clear();
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
