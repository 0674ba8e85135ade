import assert from 'node:assert/strict';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TributaryError } from '../../core/errors.ts';
import { csvSourceFactory } from './csv-source.ts';
import { CHUNK_BYTES } from './file-common.ts';
import {
  collect,
  fileStream,
  readPages,
  recordingLogger,
  resumeFromEveryPage,
  tempDir,
  type TempDir,
} from './file-testing.ts';

let tmp: TempDir;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await tmp.remove();
});

const csv = (block: Record<string, unknown>) =>
  fileStream(csvSourceFactory, { type: 'csv', ...block }, tmp.dir);

describe('csv source', () => {
  test('reads header, delimiter, quoting, embedded newlines, BOM and CRLF', async () => {
    await tmp.write(
      'notices.csv',
      '\uFEFFid;Offender Name;note\r\n1;"Smith; J";"said ""no"""\r\n2;Ünal;"two\r\nlines"\r\n\r\n3;;\r\n',
    );
    const stream = await csv({ path: 'notices.csv', delimiter: ';' });
    assert.equal(stream.name, 'notices');
    const pages = await readPages(stream);
    assert.deepEqual(collect(pages), {
      records: [
        { id: '1', 'Offender Name': 'Smith; J', note: 'said "no"' },
        { id: '2', 'Offender Name': 'Ünal', note: 'two\r\nlines' },
        { id: '3', 'Offender Name': '', note: '' },
      ],
      locations: ['line 2', 'line 3', 'line 6'],
      rejects: [],
    });
    const size = Buffer.byteLength(
      '\uFEFFid;Offender Name;note\r\n1;"Smith; J";"said ""no"""\r\n2;Ünal;"two\r\nlines"\r\n\r\n3;;\r\n',
    );
    assert.deepEqual(pages.at(-1)?.progress, { done: size, total: size, unit: 'bytes' });
  });

  test('decodes latin1', async () => {
    await tmp.write('latin1.csv', Buffer.from('nom,ville\nJosé,Montréal\nZoë,Köln\n', 'latin1'));
    const { records } = collect(await readPages(await csv({ path: 'latin1.csv', encoding: 'latin1' })));
    assert.deepEqual(records, [
      { nom: 'José', ville: 'Montréal' },
      { nom: 'Zoë', ville: 'Köln' },
    ]);
  });

  test('rejects a record with the wrong number of fields, with its line, and keeps going', async () => {
    await tmp.write('ragged.csv', 'a,b\n1,2\n3\n"4\n4",5,6\n7,8\n');
    const got = collect(await readPages(await csv({ path: 'ragged.csv' })));
    assert.deepEqual(got.records, [
      { a: '1', b: '2' },
      { a: '7', b: '8' },
    ]);
    assert.deepEqual(got.locations, ['line 2', 'line 6']);
    assert.deepEqual(got.rejects, [
      { code: 'malformed_record', message: 'line 3: expected 2 fields, found 1', payload: '3' },
      { code: 'malformed_record', message: 'line 4: expected 2 fields, found 3', payload: '"4\n4",5,6' },
    ]);
  });

  test('relaxColumnCount keeps short and long records', async () => {
    await tmp.write('relaxed.csv', 'a,b\n1\n2,3,4\n');
    const got = collect(await readPages(await csv({ path: 'relaxed.csv', relaxColumnCount: true })));
    assert.deepEqual(got.records, [{ a: '1' }, { a: '2', b: '3' }]);
    assert.deepEqual(got.rejects, []);
  });

  test('rejects the line of a quote that never closes, then reads on', async () => {
    await tmp.write('unclosed.csv', 'a,b\n1,"oops\n2,ok\n');
    const got = collect(await readPages(await csv({ path: 'unclosed.csv' })));
    assert.deepEqual(got.records, [{ a: '2', b: 'ok' }]);
    assert.deepEqual(got.rejects, [
      {
        code: 'malformed_record',
        message: 'line 2: a quoted field is never closed; the line was skipped',
        payload: '1,"oops',
      },
    ]);
  });

  test('header: false uses the configured columns; empty lines can be kept', async () => {
    await tmp.write('noheader.csv', 'x\n\ny\n');
    const got = collect(
      await readPages(
        await csv({ path: 'noheader.csv', header: false, columns: ['v'], skipEmptyLines: false }),
      ),
    );
    assert.deepEqual(got.records, [{ v: 'x' }, { v: '' }, { v: 'y' }]);
    assert.deepEqual(got.locations, ['line 1', 'line 2', 'line 3']);
  });

  test('names blank header cells and renames repeated ones', async () => {
    await tmp.write('dupes.csv', 'a,,a,__proto__\n1,2,3,4\n');
    const logger = recordingLogger();
    const stream = await csv({ path: 'dupes.csv' });
    const [record] = collect(await readPages(stream, { logger })).records;
    // JSON.parse makes "__proto__" an own property, as the source must.
    assert.deepEqual({ ...record }, JSON.parse('{"a":"1","column_2":"2","a_2":"3","__proto__":"4"}'));
    assert.equal(Object.hasOwn(record!, '__proto__'), true);
    assert.equal(logger.warnings.length, 1);
  });

  test('config: header false needs columns; delimiter is one ASCII character', () => {
    assert.equal(
      csvSourceFactory.configSchema.safeParse({ type: 'csv', path: 'x.csv', header: false }).success,
      false,
    );
    assert.equal(
      csvSourceFactory.configSchema.safeParse({ type: 'csv', path: 'x.csv', delimiter: ';;' }).success,
      false,
    );
    assert.equal(
      csvSourceFactory.configSchema.safeParse({ type: 'csv', path: 'x.csv', delimite: ';' }).success,
      false,
    );
    assert.deepEqual(csvSourceFactory.configSchema.parse({ type: 'csv', path: 'x.csv' }), {
      type: 'csv',
      path: 'x.csv',
      delimiter: ',',
      quote: '"',
      escape: '"',
      encoding: 'utf8',
      header: true,
      skipEmptyLines: true,
      relaxColumnCount: false,
    });
  });

  test('check() names the resolved path', async () => {
    const missing = csvSourceFactory.create(
      csvSourceFactory.configSchema.parse({ type: 'csv', path: 'nope.csv' }),
      {
        baseDir: tmp.dir,
        logger: recordingLogger(),
      },
    );
    const result = await missing.check();
    assert.equal(result.ok, false);
    assert.match(
      result.message,
      new RegExp(`^${escapeRegExp(path.join(tmp.dir, 'nope.csv'))} does not exist`),
    );
    await tmp.write('here.csv', 'a\n1\n');
    const present = csvSourceFactory.create(
      csvSourceFactory.configSchema.parse({ type: 'csv', path: 'here.csv' }),
      {
        baseDir: tmp.dir,
        logger: recordingLogger(),
      },
    );
    assert.deepEqual(await present.check(), {
      ok: true,
      message: `${path.join(tmp.dir, 'here.csv')} is readable (4 bytes)`,
    });
    const stream = (await missing.streams())[0]!;
    await assert.rejects(
      readPages(stream),
      (err) => err instanceof TributaryError && err.code === 'source_unavailable',
    );
  });

  test('resumes from every page boundary with exactly the remaining records (UTF-8, CRLF, embedded newlines)', async () => {
    const rows = ['id,name,note'];
    for (let i = 1; i <= 23; i++) {
      const note = i % 3 === 0 ? `"multi\r\nline ${i} ""q"""` : i % 5 === 0 ? '' : `n${i}`;
      rows.push(`${i},Zoë 😀 ${i},${note}`);
      if (i % 7 === 0) rows.push(''); // empty lines are skipped
      if (i % 11 === 0) rows.push(`${i}-bad`); // a reject mid-file
    }
    await tmp.write('resume.csv', '\uFEFF' + rows.join('\r\n') + '\r\n');
    const stream = await csv({ path: 'resume.csv' });
    for (const pageSize of [1, 2, 5]) {
      const { full, resumes } = await resumeFromEveryPage(stream, pageSize, (f, stitched, i) =>
        assert.deepEqual(stitched, f, `pageSize ${pageSize}, resumed after page ${i}`),
      );
      assert.equal(full.records.length, 23);
      assert.equal(full.rejects.length, 2);
      assert.deepEqual(full.records[2], { id: '3', name: 'Zoë 😀 3', note: 'multi\r\nline 3 "q"' });
      assert.equal(resumes, Math.ceil(25 / pageSize));
    }
  });

  test('resumes across chunk boundaries of a large file', async () => {
    const rows = ['id,text'];
    let i = 0;
    let size = 0;
    while (size < CHUNK_BYTES * 2.5) {
      i++;
      const row = i % 4 === 0 ? `${i},"é€ ""${i}""\nnext"` : `${i},😀 row ${i} ${'x'.repeat(i % 50)}`;
      rows.push(row);
      size += Buffer.byteLength(row) + 1;
    }
    await tmp.write('large.csv', rows.join('\n') + '\n');
    const stream = await csv({ path: 'large.csv' });
    const pages = await readPages(stream, { pageSize: 7919 });
    const full = collect(pages);
    assert.equal(full.records.length, i);
    assert.equal(full.records.at(-1)?.id, String(i));
    for (const [k, page] of pages.entries()) {
      const rest = collect(await readPages(stream, { pageSize: 7919, checkpoint: page.checkpoint }));
      assert.deepEqual([...collect(pages.slice(0, k + 1)).records, ...rest.records], full.records);
    }
  });

  test('a changed file restarts from the beginning with a warning', async () => {
    const file = await tmp.write('changing.csv', 'id\n1\n2\n3\n');
    const logger = recordingLogger();
    const stream = await csv({ path: 'changing.csv' });
    const [first] = await readPages(stream, { pageSize: 2 });
    await tmp.write('changing.csv', 'id\n1\n2\n3\n4\n');
    const after = collect(await readPages(stream, { pageSize: 2, checkpoint: first!.checkpoint, logger }));
    assert.deepEqual(after.records, [{ id: '1' }, { id: '2' }, { id: '3' }, { id: '4' }]);
    assert.deepEqual(logger.warnings, [
      'file changed since the last checkpoint; reading it again from the beginning',
    ]);

    // Same size, different mtime: also a different file.
    const [again] = await readPages(stream, { pageSize: 2 });
    await utimes(file, new Date(), new Date(Date.now() + 5000));
    assert.equal(
      collect(await readPages(stream, { checkpoint: again!.checkpoint, logger })).records.length,
      4,
    );
    assert.equal(logger.warnings.length, 2);
  });

  test('an aborted signal ends the read early, without an error', async () => {
    await tmp.write('abort.csv', 'id\n' + Array.from({ length: 100 }, (_, i) => i).join('\n') + '\n');
    const stream = await csv({ path: 'abort.csv' });
    const controller = new AbortController();
    const seen: number[] = [];
    for await (const page of stream.read({
      checkpoint: null,
      cursor: null,
      signal: controller.signal,
      logger: recordingLogger(),
      pageSize: 10,
    })) {
      seen.push(page.records.length);
      controller.abort();
    }
    assert.deepEqual(seen, [10]);
    // Aborted before anything was read: no page at all, not a half-read tail taken for the end of the file.
    assert.deepEqual(await readPages(stream, { signal: controller.signal }), []);
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
