import { z } from 'zod';
import { TributaryError } from '../../core/errors.ts';
import type { Logger, RawRecord } from '../../core/types.ts';
import type { Page, ReadContext, SourceFactory, SourceReject } from '../source.ts';
import { CSV_END, CSV_MORE, CSV_RECORD, CsvParser, type CsvDialect } from './csv-parser.ts';
import {
  type ByteScanner,
  type FileIdentity,
  fileIdentitySchema,
  FileSource,
  openFile,
  resumeFrom,
  SCAN_END,
  SCAN_ITEM,
  SCAN_MORE,
  scanPages,
} from './file-common.ts';

/** Defaults of the csv source, in one place. */
export const CSV_DEFAULTS = {
  delimiter: ',',
  quote: '"',
  escape: '"',
  encoding: 'utf8',
  header: true,
  skipEmptyLines: true,
  relaxColumnCount: false,
} as const;

const asciiChar = (what: string) =>
  z
    .string()
    .length(1, `${what} must be exactly one character`)
    .refine(
      (c) => c.charCodeAt(0) <= 0x7f && c !== '\n' && c !== '\r',
      `${what} must be an ASCII character other than a line break`,
    );

export const csvConfigSchema = z
  .strictObject({
    type: z.literal('csv'),
    /** The file; a relative path is resolved against the config file's folder. */
    path: z.string().min(1),
    /** Field separator, one ASCII character: ',' (default), ';', '\t', '|'. */
    delimiter: asciiChar('delimiter').default(CSV_DEFAULTS.delimiter),
    /** Quote character that wraps fields containing delimiters, quotes or line breaks (default '"'). */
    quote: asciiChar('quote').default(CSV_DEFAULTS.quote),
    /** Inside a quoted field, makes the next quote literal. Default '"' (RFC 4180 `""`); '\\' for `\"`. */
    escape: asciiChar('escape').default(CSV_DEFAULTS.escape),
    /** Text encoding of the file: utf8 (default; a leading byte-order mark is skipped) or latin1. */
    encoding: z.enum(['utf8', 'latin1']).default(CSV_DEFAULTS.encoding),
    /** The first record holds the column names (default true). */
    header: z.boolean().default(CSV_DEFAULTS.header),
    /**
     * Column names, in file order. Required when header is false; with a header they replace the
     * header's names (the header line is still skipped).
     */
    columns: z.array(z.string().min(1)).min(1).optional(),
    /** Skip lines with no characters at all (default true); otherwise they are one-field records. */
    skipEmptyLines: z.boolean().default(CSV_DEFAULTS.skipEmptyLines),
    /**
     * Accept records whose field count differs from the header (default false: such a record is
     * rejected with its line number). When true, missing fields are absent from the record and
     * extra fields are dropped.
     */
    relaxColumnCount: z.boolean().default(CSV_DEFAULTS.relaxColumnCount),
  })
  .refine((c) => c.header || c.columns !== undefined, {
    path: ['columns'],
    message: 'columns are required when header is false',
  })
  .refine((c) => c.delimiter !== c.quote, { path: ['quote'], message: 'quote must differ from delimiter' });

export type CsvConfig = z.output<typeof csvConfigSchema>;

/**
 * Resume position: `offset` is the byte where the next record starts (after the previous record's
 * line break), `line` its line number, `columns` the header so a resumed read need not re-read it.
 */
const csvCheckpointSchema = z.object({
  format: z.literal('csv'),
  file: fileIdentitySchema,
  offset: z.number().int().min(0),
  line: z.number().int().min(1),
  columns: z.array(z.string()),
});
type CsvCheckpoint = z.output<typeof csvCheckpointSchema>;

export const csvSourceFactory: SourceFactory<CsvConfig> = {
  type: 'csv',
  configSchema: csvConfigSchema,
  create(config, ctx) {
    return new CsvSource(config, ctx);
  },
};

export class CsvSource extends FileSource<CsvConfig> {
  readonly type = 'csv';

  protected async *read(ctx: ReadContext): AsyncGenerator<Page, void, undefined> {
    const { handle, identity } = await openFile(this.resolvedPath, this.config.path);
    try {
      const resume = resumeFrom(ctx.checkpoint, csvCheckpointSchema, identity, this.resolvedPath, ctx.logger);
      if (resume)
        ctx.logger.debug('resuming csv read', {
          path: this.resolvedPath,
          line: resume.line,
          offset: resume.offset,
        });
      const scanner = new CsvScanner(this.config, identity, resume, this.resolvedPath, ctx.logger);
      yield* scanPages(handle, scanner.offset, identity.size, scanner, ctx, () => scanner.checkpoint());
    } finally {
      await handle.close();
    }
  }
}

/** Turns parsed fields into records (or rejects) using the header. */
class CsvScanner implements ByteScanner {
  record: RawRecord | null = null;
  reject: SourceReject | null = null;
  location = '';
  private readonly parser: CsvParser;
  /** Null until the header line has been read. */
  private columns: string[] | null;
  private nullProto = false;

  constructor(
    private readonly config: CsvConfig,
    private readonly identity: FileIdentity,
    resume: CsvCheckpoint | null,
    private readonly resolvedPath: string,
    private readonly logger: Logger,
  ) {
    const dialect: CsvDialect = {
      delimiter: config.delimiter,
      quote: config.quote,
      escape: config.escape,
      encoding: config.encoding,
      skipEmptyLines: config.skipEmptyLines,
    };
    this.parser = new CsvParser(dialect, resume?.offset ?? 0, resume?.line ?? 1);
    const columns = resume?.columns ?? (config.header ? null : (config.columns ?? null));
    this.columns = null;
    if (columns !== null) this.setColumns(columns);
  }

  private setColumns(columns: string[]): void {
    this.columns = columns;
    // A column named __proto__ would set the prototype instead of a field on a plain object.
    this.nullProto = columns.includes('__proto__');
  }

  get offset(): number {
    return this.parser.offset;
  }

  append(chunk: Buffer): void {
    this.parser.append(chunk);
  }

  finish(): void {
    this.parser.finish();
  }

  checkpoint(): CsvCheckpoint {
    return {
      format: 'csv',
      file: this.identity,
      offset: this.parser.offset,
      line: this.parser.nextLine,
      columns: this.columns ?? [],
    };
  }

  next(): number {
    const parser = this.parser;
    for (;;) {
      const step = parser.next();
      if (step === CSV_MORE) return SCAN_MORE;
      if (step === CSV_END) return SCAN_END;
      const line = parser.recordLine;
      if (step !== CSV_RECORD) {
        if (this.columns === null) {
          throw new TributaryError(
            'source_invalid',
            `${this.resolvedPath}: the header on line ${line} has a quote that never closes`,
          );
        }
        return this.rejected(line, 'a quoted field is never closed; the line was skipped', parser.rawText());
      }
      const fields = parser.fields;
      const columns = this.columns;
      if (columns === null) {
        this.setColumns(this.config.columns ?? headerNames(fields, this.resolvedPath, this.logger));
        continue;
      }
      const n = columns.length;
      if (fields.length !== n && !this.config.relaxColumnCount) {
        return this.rejected(line, `expected ${n} fields, found ${fields.length}`, parser.rawText());
      }
      const m = fields.length < n ? fields.length : n;
      const record: RawRecord = this.nullProto ? (Object.create(null) as RawRecord) : {};
      for (let i = 0; i < m; i++) record[columns[i]!] = fields[i];
      this.record = record;
      this.reject = null;
      this.location = `line ${line}`;
      return SCAN_ITEM;
    }
  }

  private rejected(line: number, problem: string, raw: string): number {
    this.record = null;
    this.reject = { code: 'malformed_record', message: `line ${line}: ${problem}`, payload: raw };
    this.location = `line ${line}`;
    return SCAN_ITEM;
  }
}

/** Header names as records' keys: blanks become column_N, repeats get a _2, _3 suffix. */
function headerNames(fields: string[], resolvedPath: string, logger: Logger): string[] {
  const seen = new Set<string>();
  return fields.map((raw, i) => {
    let name = raw === '' ? `column_${i + 1}` : raw;
    if (seen.has(name)) {
      let k = 2;
      while (seen.has(`${name}_${k}`)) k++;
      logger.warn('csv header repeats a column name; renaming the later one', {
        path: resolvedPath,
        column: name,
        renamed: `${name}_${k}`,
      });
      name = `${name}_${k}`;
    }
    seen.add(name);
    return name;
  });
}
