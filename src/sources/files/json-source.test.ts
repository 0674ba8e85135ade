import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TributaryError } from '../../core/errors.ts';
import {
  collect,
  fileStream,
  readPages,
  recordingLogger,
  resumeFromEveryPage,
  tempDir,
  type TempDir,
} from './file-testing.ts';
import { jsonSourceFactory } from './json-source.ts';

let tmp: TempDir;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await tmp.remove();
});

const json = (block: Record<string, unknown>) =>
  fileStream(jsonSourceFactory, { type: 'json', ...block }, tmp.dir);

describe('json source', () => {
  test('reads a top-level array; non-objects are rejects', async () => {
    await tmp.write('people.json', '[{"id":1,"name":"Zoë 😀"},\n 42, {"id":2,"nested":{"x":[1]}}, null]');
    const stream = await json({ path: 'people.json' });
    assert.equal(stream.name, 'people');
    const got = collect(await readPages(stream));
    assert.deepEqual(got, {
      records: [
        { id: 1, name: 'Zoë 😀' },
        { id: 2, nested: { x: [1] } },
      ],
      locations: ['record 1', 'record 3'],
      rejects: [
        { code: 'malformed_record', message: 'record 2: expected a JSON object, got a number', payload: 42 },
        { code: 'malformed_record', message: 'record 4: expected a JSON object, got null', payload: null },
      ],
    });
  });

  test('reads the array at recordsPath, matching the path exactly', async () => {
    await tmp.write(
      'wrapped.json',
      JSON.stringify({
        meta: { n: 2 },
        data: { items2: [{ no: true }], items: [{ id: 'a' }, { id: 'b' }], after: 1 },
      }),
    );
    const got = collect(await readPages(await json({ path: 'wrapped.json', recordsPath: 'data.items' })));
    assert.deepEqual(got.records, [{ id: 'a' }, { id: 'b' }]);
  });

  test('fails clearly when the records are not where the config says', async () => {
    await tmp.write('object.json', '{"data":{"items":{"not":"an array"}}}');
    const isSourceInvalid = (pattern: RegExp) => (err: unknown) =>
      err instanceof TributaryError && err.code === 'source_invalid' && pattern.test(err.message);
    await assert.rejects(
      readPages(await json({ path: 'object.json' })),
      isSourceInvalid(/is not a JSON array; set recordsPath/),
    );
    await assert.rejects(
      readPages(await json({ path: 'object.json', recordsPath: 'data.missing' })),
      isSourceInvalid(/recordsPath "data.missing" was not found/),
    );
    await assert.rejects(
      readPages(await json({ path: 'object.json', recordsPath: 'data.items' })),
      isSourceInvalid(/recordsPath "data.items" is not an array/),
    );
    await tmp.write('broken.json', '[{"id":1}, {"id":');
    await assert.rejects(readPages(await json({ path: 'broken.json' })), isSourceInvalid(/invalid JSON/));
  });

  test('resumes from every page boundary with exactly the remaining records', async () => {
    const items = Array.from({ length: 19 }, (_, i) =>
      i % 6 === 5 ? `bad ${i}` : { id: i + 1, text: `é€😀\r\n${i}` },
    );
    await tmp.write(
      'resume.json',
      JSON.stringify({ results: [{ rows: items }] }, null, 2).replaceAll('\n', '\r\n'),
    );
    const stream = await json({ path: 'resume.json', recordsPath: 'results.0.rows' });
    for (const pageSize of [1, 4, 7]) {
      const { full } = await resumeFromEveryPage(stream, pageSize, (f, stitched, i) =>
        assert.deepEqual(stitched, f, `pageSize ${pageSize}, resumed after page ${i}`),
      );
      assert.equal(full.records.length, 16);
      assert.equal(full.rejects.length, 3);
    }
  });

  test('a changed file restarts from the beginning with a warning', async () => {
    await tmp.write('changing.json', '[{"a":1},{"a":2}]');
    const stream = await json({ path: 'changing.json' });
    const [first] = await readPages(stream, { pageSize: 1 });
    assert.deepEqual(first!.records, [{ a: 1 }]);
    await tmp.write('changing.json', '[{"a":1},{"a":2},{"a":3}]');
    const logger = recordingLogger();
    const got = collect(await readPages(stream, { checkpoint: first!.checkpoint, logger }));
    assert.deepEqual(got.records, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    assert.deepEqual(logger.warnings, [
      'file changed since the last checkpoint; reading it again from the beginning',
    ]);
  });

  test('an aborted signal ends the read early, without an error', async () => {
    await tmp.write('abort.json', JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ i }))));
    const stream = await json({ path: 'abort.json' });
    const controller = new AbortController();
    let pages = 0;
    for await (const _page of stream.read({
      checkpoint: null,
      cursor: null,
      signal: controller.signal,
      logger: recordingLogger(),
      pageSize: 10,
    })) {
      pages++;
      controller.abort();
    }
    assert.equal(pages, 1);
  });
});
