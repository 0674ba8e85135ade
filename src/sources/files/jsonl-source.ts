import { z } from 'zod';
import { TributaryError } from '../../core/errors.ts';
import type { RawRecord } from '../../core/types.ts';
import type { Page, ReadContext, SourceFactory, SourceReject } from '../source.ts';
import {
  type ByteScanner,
  describeJsonValue,
  type FileIdentity,
  fileIdentitySchema,
  FileSource,
  isJsonObject,
  MAX_RECORD_BYTES,
  openFile,
  resumeFrom,
  SCAN_END,
  SCAN_ITEM,
  SCAN_MORE,
  scanPages,
  startsWithBom,
} from './file-common.ts';

export const jsonlConfigSchema = z.strictObject({
  type: z.literal('jsonl'),
  /**
   * A UTF-8 file with one JSON object per line (JSON Lines / NDJSON); a relative path is resolved
   * against the config file's folder. Blank lines are skipped; a line that is not a JSON object is
   * rejected with its line number.
   */
  path: z.string().min(1),
});

export type JsonlConfig = z.output<typeof jsonlConfigSchema>;

/** Resume position: `offset` is the first byte of line `line`, the line after the last one read. */
const jsonlCheckpointSchema = z.object({
  format: z.literal('jsonl'),
  file: fileIdentitySchema,
  offset: z.number().int().min(0),
  line: z.number().int().min(1),
});
type JsonlCheckpoint = z.output<typeof jsonlCheckpointSchema>;

export const jsonlSourceFactory: SourceFactory<JsonlConfig> = {
  type: 'jsonl',
  configSchema: jsonlConfigSchema,
  create(config, ctx) {
    return new JsonlSource(config, ctx);
  },
};

export class JsonlSource extends FileSource<JsonlConfig> {
  readonly type = 'jsonl';

  protected async *read(ctx: ReadContext): AsyncGenerator<Page, void, undefined> {
    const { handle, identity } = await openFile(this.resolvedPath, this.config.path);
    try {
      const resume = resumeFrom(
        ctx.checkpoint,
        jsonlCheckpointSchema,
        identity,
        this.resolvedPath,
        ctx.logger,
      );
      const scanner = new JsonlScanner(identity, resume?.offset ?? 0, resume?.line ?? 1);
      yield* scanPages(handle, scanner.offset, identity.size, scanner, ctx, () => scanner.checkpoint());
    } finally {
      await handle.close();
    }
  }
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits the bytes on LF itself (Buffer.indexOf is memchr) and decodes one whole line at a time,
 * so a multi-byte character can never be cut by a chunk boundary: an incomplete last line stays in
 * the buffer until the next chunk arrives.
 */
class JsonlScanner implements ByteScanner {
  record: RawRecord | null = null;
  reject: SourceReject | null = null;
  location = '';
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private base: number;
  private line: number;
  private eof = false;
  private bomPending: boolean;

  constructor(
    private readonly identity: FileIdentity,
    startOffset: number,
    startLine: number,
  ) {
    this.base = startOffset;
    this.line = startLine;
    this.bomPending = startOffset === 0;
  }

  get offset(): number {
    return this.base + this.pos;
  }

  append(chunk: Buffer): void {
    this.buf = this.pos >= this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.base += this.pos;
    this.pos = 0;
  }

  finish(): void {
    this.eof = true;
  }

  checkpoint(): JsonlCheckpoint {
    return { format: 'jsonl', file: this.identity, offset: this.offset, line: this.line };
  }

  next(): number {
    const buf = this.buf;
    const len = buf.length;
    if (this.bomPending) {
      if (len - this.pos < 3 && !this.eof) return SCAN_MORE;
      if (startsWithBom(buf, this.pos)) this.pos += 3;
      this.bomPending = false;
    }
    for (;;) {
      const start = this.pos;
      if (start >= len) return this.eof ? SCAN_END : SCAN_MORE;
      const nl = buf.indexOf(LF, start);
      if (nl === -1 && !this.eof) {
        if (len - start > MAX_RECORD_BYTES) {
          throw new TributaryError(
            'source_invalid',
            `line ${this.line} is longer than ${MAX_RECORD_BYTES} bytes`,
          );
        }
        return SCAN_MORE;
      }
      let end = nl === -1 ? len : nl;
      if (end > start && buf[end - 1] === CR) end--;
      const line = this.line;
      this.pos = nl === -1 ? len : nl + 1;
      if (nl !== -1) this.line++;
      const text = buf.toString('utf8', start, end);
      if (text.trim() === '') continue;
      this.location = `line ${line}`;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        return this.rejected(line, `invalid JSON: ${err instanceof Error ? err.message : String(err)}`, text);
      }
      if (!isJsonObject(value))
        return this.rejected(line, `expected a JSON object, got ${describeJsonValue(value)}`, text);
      this.record = value;
      this.reject = null;
      return SCAN_ITEM;
    }
  }

  private rejected(line: number, problem: string, text: string): number {
    this.record = null;
    this.reject = { code: 'malformed_record', message: `line ${line}: ${problem}`, payload: text };
    return SCAN_ITEM;
  }
}
