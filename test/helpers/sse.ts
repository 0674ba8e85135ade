/**
 * A minimal EventSource for tests, over node:http: it records every Server-Sent Events frame,
 * heartbeat comments included.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- event payloads are checked field by field */
import http from 'node:http';

export interface SseFrame {
  id?: string;
  event?: string;
  data?: any;
  comment?: string;
}

/** Opens `url` as an event stream; `onFrame` sees each frame as it arrives. */
export function openStream(
  url: string,
  headers: Record<string, string> = {},
  onFrame: (frame: SseFrame) => void = () => {},
) {
  const frames: SseFrame[] = [];
  let status = 0;
  let contentType = '';
  const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
    status = res.statusCode ?? 0;
    contentType = String(res.headers['content-type']);
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: SseFrame = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) frame.comment = line.slice(1).trim();
          else if (line.startsWith('id: ')) frame.id = line.slice(4);
          else if (line.startsWith('event: ')) frame.event = line.slice(7);
          else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6));
        }
        frames.push(frame);
        onFrame(frame);
      }
    });
  });
  req.on('error', () => {});
  return {
    frames,
    status: () => status,
    contentType: () => contentType,
    events: () => frames.filter((f) => f.event && f.event !== 'reset' && f.id),
    close: () => req.destroy(),
  };
}
