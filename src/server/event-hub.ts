import type { ServerResponse } from 'node:http';
import type { ServiceEvent } from '../scheduler/event-bus.ts';

/**
 * The SSE side of the event bus: every event this instance sees (its own runs and, through the
 * bus, every other instance's) goes into a bounded ring, then to each connected client. A client
 * that reconnects with `Last-Event-ID` gets the events it missed from the ring.
 *
 * Ids are given by the instance where an event happened (`<epoch>-<n>`, see event-bus.ts), so
 * every instance knows an event by the same id: a client may resume on another instance (a
 * load balancer's choice, or after the first one stopped). An id the ring does not hold (older
 * than the ring, or from before this instance started) gets a `reset` event: reload the state.
 */
export interface HubEntry {
  id: string;
  /** Position in this instance's ring. */
  seq: number;
  event: ServiceEvent;
  /** Instance that produced the event. */
  origin: string;
}

export const EVENT_HUB_DEFAULTS = {
  /** Events kept for resumption: ~10 minutes of one busy import at one batch a second. */
  ringSize: 1000,
  /** A comment line this often keeps proxies from closing an idle stream (ms). */
  heartbeatMs: 15_000,
  /** A client this far behind (bytes buffered by the socket) is dropped: it reconnects and resumes. */
  maxBufferedBytes: 1024 * 1024,
} as const;

export interface SseClient {
  sync?: string;
  res: ServerResponse;
}

export class EventHub {
  readonly #ring: HubEntry[] = [];
  /** Ring position of each id in the ring. */
  readonly #byId = new Map<string, number>();
  readonly #clients = new Set<SseClient>();
  readonly #heartbeat: NodeJS.Timeout;
  #seq = 0;
  /** Events up to this position may be followed by a gap: no resuming from before it. */
  #gapAt = 0;

  constructor(
    readonly options: {
      ringSize: number;
      heartbeatMs: number;
      maxBufferedBytes: number;
    } = EVENT_HUB_DEFAULTS,
  ) {
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs);
    this.#heartbeat.unref();
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  push(event: ServiceEvent, origin: string, id: string): HubEntry {
    const seq = ++this.#seq;
    const entry: HubEntry = { id, seq, event, origin };
    this.#ring.push(entry);
    this.#byId.set(id, seq);
    if (this.#ring.length > this.options.ringSize) this.#byId.delete(this.#ring.shift()!.id);
    const frame = format(entry);
    for (const client of this.#clients) {
      if (client.sync && client.sync !== event.sync) continue;
      this.#write(client, frame);
    }
    return entry;
  }

  /**
   * Events after `lastEventId`, or null when that id cannot be resumed from (another process's
   * id, or older than the ring).
   */
  since(lastEventId: string): HubEntry[] | null {
    const seq = this.#byId.get(lastEventId);
    if (seq === undefined || seq < this.#gapAt) return null;
    return this.#ring.filter((e) => e.seq > seq);
  }

  /**
   * Events may have been missed (the bus lost its connection to the other instances): every
   * client is told to reload the state, and no one resumes from an id before this point.
   */
  gap(reason: string): void {
    this.#gapAt = this.#seq + 1;
    const frame = reset(`${reason}; events may have been missed: reload the state`);
    for (const client of this.#clients) this.#write(client, frame);
  }

  /** Starts streaming to `res` (headers already sent by the caller): replay, then live events. */
  attach(client: SseClient, lastEventId: string | undefined): () => void {
    const { res } = client;
    res.write(`retry: 3000\n\n`);
    if (lastEventId) {
      const missed = this.since(lastEventId);
      if (missed === null) {
        res.write(reset('unknown or expired Last-Event-ID; reload the state'));
      } else {
        for (const e of missed) if (!client.sync || client.sync === e.event.sync) res.write(format(e));
      }
    }
    this.#clients.add(client);
    const detach = () => this.#clients.delete(client);
    res.on('close', detach);
    return detach;
  }

  /** Ends every stream (shutdown): clients reconnect, to this instance when it is back or another. */
  closeAll(): void {
    clearInterval(this.#heartbeat);
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }

  #beat(): void {
    const frame = `: heartbeat ${new Date().toISOString()}\n\n`;
    for (const c of this.#clients) this.#write(c, frame);
  }

  #write(client: SseClient, frame: string): void {
    if (client.res.writableLength > this.options.maxBufferedBytes) {
      this.#clients.delete(client);
      client.res.destroy();
      return;
    }
    client.res.write(frame);
  }
}

/** The frame that tells a client to reload the state rather than trust its stream. */
function reset(reason: string): string {
  return `event: reset\ndata: ${JSON.stringify({ reason })}\n\n`;
}

/** One SSE frame: `event:` is the event type, so EventSource clients can listen per type. */
function format(e: HubEntry): string {
  return `id: ${e.id}\nevent: ${e.event.type}\ndata: ${JSON.stringify({ ...e.event, instance: e.origin })}\n\n`;
}
