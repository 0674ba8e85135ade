import { createReadStream } from 'node:fs';
import { pipeline, type Duplex } from 'node:stream';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { z } from 'zod';
import { TributaryError } from '../../core/errors.ts';
import type { RawRecord } from '../../core/types.ts';
import type { Page, ReadContext, SourceFactory, SourceReject } from '../source.ts';
import {
  describeJsonValue,
  fileIdentitySchema,
  FileSource,
  isJsonObject,
  openFile,
  resumeFrom,
} from './file-common.ts';

export const jsonConfigSchema = z.strictObject({
  type: z.literal('json'),
  /** A UTF-8 JSON document; a relative path is resolved against the config file's folder. */
  path: z.string().min(1),
  /**
   * Dotted path of the array of records inside the document, e.g. "data.items" (numeric parts
   * index arrays: "results.0.rows"). Default: the document itself is that array. Elements that are
   * not JSON objects are rejected.
   */
  recordsPath: z
    .string()
    .regex(/^[^.]+(\.[^.]+)*$/, 'must be a dotted path such as data.items')
    .optional(),
});

export type JsonConfig = z.output<typeof jsonConfigSchema>;

/**
 * Resume position: `index` elements of the array have been delivered. A JSON document has no
 * cheap byte offset to resume at (the parser's state is a stack), so a resumed read re-parses the
 * document from the start and skips that many elements: it costs parse time, not memory, and
 * delivers nothing twice.
 */
const jsonCheckpointSchema = z.object({
  format: z.literal('json'),
  file: fileIdentitySchema,
  index: z.number().int().min(0),
});
type JsonCheckpoint = z.output<typeof jsonCheckpointSchema>;

export const jsonSourceFactory: SourceFactory<JsonConfig> = {
  type: 'json',
  configSchema: jsonConfigSchema,
  create(config, ctx) {
    return new JsonSource(config, ctx);
  },
};

export class JsonSource extends FileSource<JsonConfig> {
  readonly type = 'json';

  protected async *read(ctx: ReadContext): AsyncGenerator<Page, void, undefined> {
    // Identity from an open handle, so a checkpoint names the file version we actually parse.
    const { handle, identity } = await openFile(this.resolvedPath, this.config.path);
    const resume = resumeFrom(ctx.checkpoint, jsonCheckpointSchema, identity, this.resolvedPath, ctx.logger);
    const skip = resume?.index ?? 0;
    const recordsPath = this.config.recordsPath;
    const parts = recordsPath?.split('.') ?? [];
    let found = parts.length === 0;

    // The read stream takes over the handle and closes it when the pipeline ends or is destroyed.
    const file = createReadStream('', { fd: handle, start: 0 });
    const stages: Duplex[] = [parser.asStream()];
    if (recordsPath !== undefined) {
      stages.push(
        pick.asStream({
          // Exact match on the path (a string filter would also match "data.items2").
          filter: (stack) => {
            const hit = stack.length === parts.length && stack.every((k, i) => String(k) === parts[i]);
            if (hit) found = true;
            return hit;
          },
          once: true,
        }),
      );
    }
    const items = streamArray.asStream();
    // pipeline() destroys every stage when one fails or when we stop iterating early.
    pipeline([file, ...stages, items], () => {});

    const pageSize = Math.max(1, ctx.pageSize);
    let index = 0;
    let records: RawRecord[] = [];
    let locations: string[] = [];
    let rejects: SourceReject[] = [];
    const page = (): Page => {
      const checkpoint: JsonCheckpoint = { format: 'json', file: identity, index };
      const p: Page = {
        records,
        locations,
        checkpoint,
        progress: { done: file.bytesRead, total: identity.size, unit: 'bytes' },
      };
      if (rejects.length > 0) p.rejects = rejects;
      records = [];
      locations = [];
      rejects = [];
      return p;
    };
    try {
      for await (const item of items as AsyncIterable<{ key: number; value: unknown }>) {
        if (ctx.signal.aborted) break;
        index++;
        if (index <= skip) continue;
        if (isJsonObject(item.value)) {
          records.push(item.value);
          locations.push(`record ${index}`);
        } else {
          rejects.push({
            code: 'malformed_record',
            message: `record ${index}: expected a JSON object, got ${describeJsonValue(item.value)}`,
            payload: item.value,
          });
        }
        if (records.length + rejects.length >= pageSize) {
          yield page();
          if (ctx.signal.aborted) break;
        }
      }
    } catch (err) {
      if (err instanceof TributaryError) throw err;
      throw new TributaryError(
        'source_invalid',
        `${this.resolvedPath}: ${describeJsonError(err, recordsPath)}`,
        { cause: err },
      );
    } finally {
      items.destroy();
      file.destroy();
    }
    if (ctx.signal.aborted) return; // ends early without error, as every file source (see scanPages)
    if (!found) {
      throw new TributaryError(
        'source_invalid',
        `${this.resolvedPath}: recordsPath "${recordsPath}" was not found in the document`,
      );
    }
    if (index < skip) {
      // Same size and mtime but fewer records than the checkpoint counted: not the file we think.
      ctx.logger.warn('json file has fewer records than the checkpoint; nothing left to read', {
        path: this.resolvedPath,
        records: index,
        checkpointIndex: skip,
      });
    }
    if (records.length + rejects.length > 0) yield page();
  }
}

function describeJsonError(err: unknown, recordsPath: string | undefined): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/should be an array/i.test(message)) {
    return recordsPath === undefined
      ? 'the document is not a JSON array; set recordsPath to the array of records inside it'
      : `recordsPath "${recordsPath}" is not an array`;
  }
  return `invalid JSON: ${message}`;
}
