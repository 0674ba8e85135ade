import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Checkpoint, Logger, RawRecord } from '../../core/types.ts';
import { silentLogger } from '../../core/types.ts';
import type { Page, SourceFactory, SourceReject, Stream } from '../source.ts';

/** Test helpers shared by the file source tests (real temp files, no mocks). */

export interface TempDir {
  dir: string;
  write(name: string, content: string | Buffer): Promise<string>;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tributary-files-'));
  return {
    dir,
    async write(name, content) {
      const file = path.join(dir, name);
      await writeFile(file, content);
      return file;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The single stream of a file source built from a raw config block. */
export async function fileStream<C>(
  factory: SourceFactory<C>,
  block: Record<string, unknown>,
  baseDir: string,
  logger: Logger = silentLogger,
): Promise<Stream> {
  const source = factory.create(factory.configSchema.parse(block), { baseDir, logger });
  const [stream, ...rest] = await source.streams();
  if (stream === undefined || rest.length > 0) throw new Error('expected exactly one stream');
  return stream;
}

export interface ReadOptions {
  checkpoint?: Checkpoint | null;
  pageSize?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export async function readPages(stream: Stream, opts: ReadOptions = {}): Promise<Page[]> {
  const pages: Page[] = [];
  for await (const page of stream.read({
    checkpoint: opts.checkpoint ?? null,
    cursor: null,
    signal: opts.signal ?? new AbortController().signal,
    logger: opts.logger ?? silentLogger,
    pageSize: opts.pageSize ?? 1000,
  })) {
    // Checkpoints are stored as JSON: make sure they survive it.
    pages.push({ ...page, checkpoint: JSON.parse(JSON.stringify(page.checkpoint)) as Checkpoint });
  }
  return pages;
}

export interface Collected {
  records: RawRecord[];
  locations: string[];
  rejects: SourceReject[];
}

export function collect(pages: Page[]): Collected {
  return {
    records: pages.flatMap((p) => p.records),
    locations: pages.flatMap((p) => p.locations ?? []),
    rejects: pages.flatMap((p) => p.rejects ?? []),
  };
}

/**
 * Reads the whole stream with `pageSize`, then for every page boundary resumes from that page's
 * checkpoint and checks that (items before) + (items after resume) == the full read.
 * Returns the full read and the number of resumes checked.
 */
export async function resumeFromEveryPage(
  stream: Stream,
  pageSize: number,
  check: (full: Collected, stitched: Collected, boundary: number) => void,
): Promise<{ full: Collected; resumes: number }> {
  const pages = await readPages(stream, { pageSize });
  const full = collect(pages);
  for (let i = 0; i < pages.length; i++) {
    const after = await readPages(stream, { pageSize, checkpoint: pages[i]!.checkpoint });
    const stitched = collect([...pages.slice(0, i + 1), ...after]);
    check(full, stitched, i);
  }
  return { full, resumes: pages.length };
}

/** A logger that remembers warnings, to assert on them. */
export function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...silentLogger, warnings, warn: (msg) => void warnings.push(msg) };
}
