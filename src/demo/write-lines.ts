import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { once } from 'node:events';

/**
 * Streams lines to a file with backpressure, so a million-row file never sits in memory.
 * Lines are joined into ~256 KiB chunks first: one write() per line costs more than the
 * formatting itself.
 */
const CHUNK_CHARS = 256 * 1024;

export async function writeLines(path: string, lines: Iterable<string>): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path, { encoding: 'utf8' });
  const failed = once(out, 'error').then(([err]) => {
    throw err as Error;
  });
  // Keep the rejection handled while we are not awaiting it.
  failed.catch(() => {});
  let count = 0;
  let chunk = '';
  const flush = async (): Promise<void> => {
    const ok = out.write(chunk);
    chunk = '';
    if (!ok) await Promise.race([once(out, 'drain'), failed]);
  };
  for (const line of lines) {
    chunk += line + '\n';
    count++;
    if (chunk.length >= CHUNK_CHARS) await flush();
  }
  if (chunk) await flush();
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return count;
}
