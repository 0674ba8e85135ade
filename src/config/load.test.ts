import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TributaryError } from '../core/errors.ts';
import { interpolateString } from './interpolate.ts';
import { loadConfig } from './load.ts';
import { redactConfig, redactDatabaseUrl } from './redact.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temporary folder holding one config file; returns the folder and the file's path. */
function configDir(name: string, text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-config-'));
  dirs.push(dir);
  const file = join(dir, name);
  writeFileSync(file, text);
  return { dir, file };
}

const NOTICES_YAML = `
database: \${DATABASE_URL:-sqlite:./data/tributary.db}
syncs:
  notices:
    source: { type: csv, path: ./data/notices.csv }
    target:
      table: notices
      primaryKey: regulator_id
      columns:
        regulator_id: text
        offender_name: { type: text, from: "Offender Name" }
        action_date: { type: date, nullIf: ["Not On File", "N/A", "---", "Unknown"] }
        fine_amount: numeric
        last_modified: timestamptz
    incremental: { cursor: last_modified, lookback: 5m }
    schedule: "0 6,18 * * *"
    batchSize: 1000
`;

/** Runs `fn`, expecting a TributaryError; returns it. */
async function rejects(fn: () => Promise<unknown>): Promise<TributaryError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof TributaryError, `expected a TributaryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('loadConfig', () => {
  test('YAML, discovered in cwd', async () => {
    const { dir, file } = configDir('tributary.config.yaml', NOTICES_YAML);
    const loaded = await loadConfig({ cwd: dir, env: {} });
    assert.equal(loaded.file, file);
    assert.equal(loaded.baseDir, dir);
    assert.equal(loaded.config.database, 'sqlite:./data/tributary.db');
    const sync = loaded.config.syncs.notices!;
    assert.deepEqual(sync.source, { type: 'csv', path: './data/notices.csv' });
    assert.deepEqual(sync.target.columns.offender_name, { type: 'text', from: 'Offender Name' });
    assert.equal(sync.batchSize, 1000);
  });

  test('JSON, by explicit path relative to cwd', async () => {
    const { dir, file } = configDir(
      'custom.json',
      JSON.stringify({
        syncs: {
          people: {
            source: { type: 'csv', path: 'p.csv' },
            target: { table: 'people', columns: { name: 'text' } },
          },
        },
      }),
    );
    const loaded = await loadConfig({ file: 'custom.json', cwd: dir, env: {} });
    assert.equal(loaded.file, file);
    assert.equal(loaded.config.database, 'sqlite:./data/tributary.db');
    assert.deepEqual(Object.keys(loaded.config.syncs), ['people']);
  });

  test('TypeScript with defineConfig from the package', async () => {
    const dir = fileURLToPath(new URL('./fixtures', import.meta.url));
    const loaded = await loadConfig({ cwd: dir, env: { NOTE_FIELD: 'Remarks' } });
    assert.equal(loaded.file, join(dir, 'tributary.config.ts'));
    const columns = loaded.config.syncs.notices!.target.columns;
    assert.deepEqual(columns.note, { type: 'text', from: 'Remarks' });
    assert.deepEqual(columns.action_date, { type: 'date', nullIf: ['Not On File', 'N/A'] });
  });

  test('$TRIBUTARY_CONFIG, then discovery order', async () => {
    const { dir, file } = configDir('tributary.config.json', JSON.stringify({ syncs: {} }));
    writeFileSync(join(dir, 'tributary.config.yml'), 'syncs: {}\n');
    assert.equal((await loadConfig({ cwd: dir, env: {} })).file, join(dir, 'tributary.config.yml'));
    assert.equal((await loadConfig({ cwd: dir, env: { TRIBUTARY_CONFIG: file } })).file, file);
  });

  test('no config file: says where it looked and how to create one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-empty-'));
    dirs.push(dir);
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(err.code, 'config_not_found');
    assert.match(
      err.message,
      new RegExp(`^no config file in ${dir} \\(looked for tributary\\.config\\.ts, tributary\\.config\\.mjs`),
    );
    assert.match(err.message, /Create tributary\.config\.yaml there/);
    const missing = await rejects(() => loadConfig({ cwd: dir, env: { TRIBUTARY_CONFIG: 'nope.yaml' } }));
    assert.equal(
      missing.message,
      `config file ${join(dir, 'nope.yaml')} (from $TRIBUTARY_CONFIG) does not exist`,
    );
  });

  test('DATABASE_URL overrides database', async () => {
    const { dir } = configDir(
      'tributary.config.yaml',
      `database: sqlite:./x.db\n${NOTICES_YAML.replace(/^database:.*$/m, '')}`,
    );
    const loaded = await loadConfig({ cwd: dir, env: { DATABASE_URL: 'postgres://u:pw@db/app' } });
    assert.equal(loaded.config.database, 'postgres://u:pw@db/app');
    assert.equal((await loadConfig({ cwd: dir, env: {} })).config.database, 'sqlite:./x.db');
  });

  test('interpolated numbers and booleans are accepted as text', async () => {
    const { dir } = configDir(
      'tributary.config.yaml',
      // Block style: in flow style ({ … }) YAML itself needs the quotes, port: "${PORT}".
      'server:\n  port: ${PORT:-8080}\nsyncs:\n  a:\n    source: { type: csv, path: a.csv }\n    target: { table: a, columns: { x: text } }\n    runOnStart: ${RUN:-true}\n    errorThreshold: ${T:-0.25}\n',
    );
    const c = (await loadConfig({ cwd: dir, env: { PORT: '3001' } })).config;
    assert.equal(c.server?.port, 3001);
    assert.equal(c.syncs.a!.runOnStart, true);
    assert.equal(c.syncs.a!.errorThreshold, 0.25);
  });
});

describe('errors name the file and the path', () => {
  test('every problem, one per line, in one error', async () => {
    const { dir, file } = configDir(
      'tributary.config.yaml',
      NOTICES_YAML.replace('action_date: { type: date,', 'action_date: { type: datee,')
        .replace('fine_amount: numeric', 'fine_amount: money')
        .replace('batchSize: 1000', 'batchSize: -5\n    colour: blue'),
    );
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(err.code, 'config_invalid');
    assert.equal(
      err.message,
      [
        'invalid config:',
        `${file}: syncs.notices.target.columns.action_date.type: Invalid option: expected one of "text"|"integer"|"bigint"|"numeric"|"boolean"|"date"|"timestamptz"|"json"`,
        `${file}: syncs.notices.target.columns.fine_amount: Invalid option: expected one of "text"|"integer"|"bigint"|"numeric"|"boolean"|"date"|"timestamptz"|"json"`,
        `${file}: syncs.notices.batchSize: Too small: expected number to be >0`,
        `${file}: syncs.notices: Unrecognized key: "colour"`,
      ].join('\n'),
    );
  });

  test('cross-field rules and column formats', async () => {
    const { dir, file } = configDir(
      'tributary.config.yaml',
      'syncs:\n  a:\n    source: { type: csv, path: a.csv }\n    target:\n      table: a\n      primaryKey: [id, missing]\n      columns:\n        id: integer\n        d: { type: date, format: DD/MM/YY }\n',
    );
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(
      err.message,
      [
        'invalid config:',
        `${file}: syncs.a.target.columns.d.format: format "DD/MM/YY" has an unknown token at "YY"; use YYYY MM DD M D HH H mm ss SSS (or epoch_s / epoch_ms)`,
        `${file}: syncs.a.target.primaryKey[1]: primary key column "missing" is not declared in target.columns`,
      ].join('\n'),
    );
  });

  test('YAML syntax errors carry line:column', async () => {
    const { dir, file } = configDir('tributary.config.yaml', 'syncs:\n  a: [1, 2\n  b: 3\n');
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(err.code, 'config_invalid');
    assert.match(err.message, new RegExp(`^invalid config:\\n${file}:\\d+:\\d+: `));
  });

  test('${VAR} unquoted inside a YAML flow mapping gets a hint', async () => {
    const { dir, file } = configDir('tributary.config.yaml', 'server: { port: ${PORT} }\nsyncs: {}\n');
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    const lines = err.message.split('\n');
    assert.ok(lines.length <= 8, err.message);
    assert.equal(
      lines.at(-1),
      `${file}: hint: inside { } or [ ], quote values that use \${…}, e.g. { port: "\${PORT}" }`,
    );
  });

  test('JSON syntax errors carry line:column', async () => {
    const { dir, file } = configDir('tributary.config.json', '{\n  "syncs": {,}\n}');
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    assert.match(err.message, new RegExp(`^invalid config:\\n${file}:2:\\d+: `));
  });

  test("source blocks are checked against their type's schema", async () => {
    const { dir, file } = configDir(
      'tributary.config.yaml',
      'syncs:\n  a:\n    source: { type: nosuch }\n    target: { table: a, columns: { x: text } }\n  b:\n    source: { type: csv }\n    target: { table: b, columns: { x: text } }\n',
    );
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    const lines = err.message.split('\n');
    assert.equal(lines[0], 'invalid config:');
    assert.match(lines[1]!, new RegExp(`^${file}: syncs\\.a\\.source\\.type: .*nosuch`));
    assert.match(lines[2]!, new RegExp(`^${file}: syncs\\.b\\.source\\.path: `));
  });

  test('a missing variable names the path and the variable', async () => {
    const { dir, file } = configDir(
      'tributary.config.yaml',
      'syncs:\n  a:\n    source: { type: csv, path: "${DATA_DIR}/a.csv" }\n    target: { table: a, columns: { x: text } }\n',
    );
    const err = await rejects(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(
      err.message,
      `invalid config:\n${file}: syncs.a.source.path: environment variable DATA_DIR is not set (set it, or write \${DATA_DIR:-default})`,
    );
  });
});

describe('interpolation', () => {
  const env = { HOST: 'db.local', EMPTY: '', TOKEN: 's3cret' };
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['${HOST}', 'db.local'],
    ['postgres://${HOST}:5432/app', 'postgres://db.local:5432/app'],
    ['${MISSING:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${HOST:-fallback}', 'db.local'],
    ['${MISSING:-}', ''],
    ['${MISSING:-a:-b}', 'a:-b'],
    ['$${HOST}', '${HOST}'],
    ['cost: $5 and $${literal}', 'cost: $5 and ${literal}'],
    // Scanned left to right: "$" then the escape "$${".
    ['$$${HOST}', '$${HOST}'],
  ];
  for (const [input, expected] of cases) {
    test(`${input} → ${expected}`, () => {
      const r = interpolateString(input, env);
      assert.deepEqual(r.problems, []);
      assert.equal(r.value, expected);
    });
  }
  test('records the variables used, not the defaults', () => {
    assert.deepEqual(interpolateString('${HOST}/${MISSING:-x}/${TOKEN}', env).variables, ['HOST', 'TOKEN']);
  });
  test('problems', () => {
    assert.deepEqual(interpolateString('${NOPE}', env).problems, [
      'environment variable NOPE is not set (set it, or write ${NOPE:-default})',
    ]);
    assert.deepEqual(interpolateString('${1BAD}', env).problems, [
      '"${1BAD}" is not a valid reference; use ${NAME} or ${NAME:-default} (write "$${" for a literal "${")',
    ]);
    assert.deepEqual(interpolateString('x ${HOST', env).problems, [
      'unterminated "${" (write "$${" for a literal "${")',
    ]);
  });
});

describe('redactConfig', () => {
  test('secrets from env vars, secret-looking keys and the database password are hidden', async () => {
    const { dir } = configDir(
      'tributary.config.yaml',
      [
        'database: postgres://app:${DB_PASSWORD}@db.local/app',
        'syncs:',
        '  a:',
        '    source: { type: csv, path: "${DATA_DIR}/a.csv" }',
        '    target: { table: a, columns: { x: text } }',
        '    description: "key ${API_KEY} in text"',
      ].join('\n'),
    );
    const loaded = await loadConfig({
      cwd: dir,
      env: { DB_PASSWORD: 'pw', DATA_DIR: '/data', API_KEY: 'k-123' },
    });
    assert.equal(loaded.config.database, 'postgres://app:pw@db.local/app');
    const shown = redactConfig(loaded.config) as {
      database: string;
      syncs: { a: { source: { path: string }; description: string } };
    };
    assert.equal(shown.database, '<redacted:DB_PASSWORD>');
    assert.equal(shown.syncs.a.source.path, '/data/a.csv');
    assert.equal(shown.syncs.a.description, '<redacted:API_KEY>');
    const text = JSON.stringify(shown);
    assert.ok(!text.includes('k-123') && !text.includes(':pw@'), text);
  });

  test('DATABASE_URL keeps all but its password; secret keys are hidden whatever their origin', async () => {
    const { dir } = configDir('tributary.config.yaml', NOTICES_YAML);
    const loaded = await loadConfig({
      cwd: dir,
      env: { DATABASE_URL: 'postgres://app:p@ss@db.local:5432/app?sslmode=require' },
    });
    const shown = redactConfig(loaded.config) as { database: string };
    assert.equal(shown.database, 'postgres://app:<redacted>@db.local:5432/app?sslmode=require');
    assert.deepEqual(
      redactConfig({
        source: { type: 'http', token: 'abc', headers: { Authorization: 'Bearer x' }, page: 1 },
      }),
      {
        source: { type: 'http', token: '<redacted>', headers: { Authorization: '<redacted>' }, page: 1 },
      },
    );
    assert.equal(
      redactDatabaseUrl('postgres://h/db?password=x&user=u'),
      'postgres://h/db?password=<redacted>&user=u',
    );
    assert.equal(redactDatabaseUrl('sqlite:./data/tributary.db'), 'sqlite:./data/tributary.db');
  });
});
