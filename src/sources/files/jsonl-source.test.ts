import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
import { jsonlSourceFactory } from './jsonl-source.ts';

let tmp: TempDir;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await tmp.remove();
});

const jsonl = (file: string) => fileStream(jsonlSourceFactory, { type: 'jsonl', path: file }, tmp.dir);

describe('jsonl source', () => {
  test('reads one object per line; rejects other lines with line number and parse error', async () => {
    await tmp.write(
      'events.jsonl',
      '\uFEFF{"id":1,"name":"Zoë"}\r\n\r\n   \n{"id":2,"tags":["a"]}\n{bad json}\n[1,2]\nnull\n{"id":3}',
    );
    const stream = await jsonl('events.jsonl');
    assert.equal(stream.name, 'events');
    const got = collect(await readPages(stream));
    assert.deepEqual(got.records, [{ id: 1, name: 'Zoë' }, { id: 2, tags: ['a'] }, { id: 3 }]);
    assert.deepEqual(got.locations, ['line 1', 'line 4', 'line 8']);
    assert.equal(got.rejects.length, 3);
    assert.match(got.rejects[0]!.message, /^line 5: invalid JSON: .+/);
    assert.deepEqual(got.rejects[0]!.payload, '{bad json}');
    assert.deepEqual(got.rejects.slice(1), [
      { code: 'malformed_record', message: 'line 6: expected a JSON object, got an array', payload: '[1,2]' },
      { code: 'malformed_record', message: 'line 7: expected a JSON object, got null', payload: 'null' },
    ]);
  });

  test('resumes from every page boundary with exactly the remaining records', async () => {
    const lines: string[] = [];
    for (let i = 1; i <= 17; i++) {
      lines.push(JSON.stringify({ id: i, text: `é€😀 ${i}` }));
      if (i % 5 === 0) lines.push('');
      if (i % 8 === 0) lines.push('not json');
    }
    await tmp.write('resume.jsonl', lines.join('\r\n'));
    const stream = await jsonl('resume.jsonl');
    for (const pageSize of [1, 3, 4]) {
      const { full } = await resumeFromEveryPage(stream, pageSize, (f, stitched, i) =>
        assert.deepEqual(stitched, f, `pageSize ${pageSize}, resumed after page ${i}`),
      );
      assert.equal(full.records.length, 17);
      assert.equal(full.rejects.length, 2);
    }
  });

  test('multi-byte characters across chunk boundaries decode intact, and resume works there', async () => {
    const lines: string[] = [];
    let size = 0;
    for (let i = 1; size < CHUNK_BYTES * 2.2; i++) {
      const line = JSON.stringify({ id: i, text: '😀é€'.repeat(1 + (i % 37)) });
      lines.push(line);
      size += Buffer.byteLength(line) + 1;
    }
    await tmp.write('big.jsonl', lines.join('\n') + '\n');
    const stream = await jsonl('big.jsonl');
    const pages = await readPages(stream, { pageSize: 4999 });
    const full = collect(pages);
    assert.deepEqual(
      full.records,
      lines.map((l) => JSON.parse(l)),
    );
    assert.deepEqual(full.rejects, []);
    for (const [k, page] of pages.entries()) {
      const rest = collect(await readPages(stream, { pageSize: 4999, checkpoint: page.checkpoint }));
      assert.deepEqual([...collect(pages.slice(0, k + 1)).records, ...rest.records], full.records);
    }
    assert.deepEqual(pages.at(-1)?.progress, { done: size, total: size, unit: 'bytes' });
  });

  test('a changed file restarts from the beginning with a warning', async () => {
    await tmp.write('changing.jsonl', '{"a":1}\n{"a":2}\n');
    const stream = await jsonl('changing.jsonl');
    const [first] = await readPages(stream, { pageSize: 1 });
    await tmp.write('changing.jsonl', '{"a":1}\n{"a":2}\n{"a":3}\n');
    const logger = recordingLogger();
    const got = collect(await readPages(stream, { checkpoint: first!.checkpoint, logger }));
    assert.deepEqual(got.records, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    assert.deepEqual(logger.warnings, [
      'file changed since the last checkpoint; reading it again from the beginning',
    ]);
  });

  test('an aborted signal ends the read early, without an error', async () => {
    await tmp.write('abort.jsonl', Array.from({ length: 50 }, (_, i) => `{"i":${i}}`).join('\n'));
    const stream = await jsonl('abort.jsonl');
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
