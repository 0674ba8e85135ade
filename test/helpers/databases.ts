/**
 * Real databases for tests, isolated cheaply: a temporary SQLite file, and a fresh PostgreSQL
 * database per call (created from TRIBUTARY_TEST_PG_URL and dropped afterwards).
 *
 * PostgreSQL is mandatory when TRIBUTARY_TEST_PG_URL is set (CI sets it); without it, tests try
 * the local default server and skip with a printed reason when none answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Destination } from '../../src/destinations/destination.ts';
import { openDestination } from '../../src/destinations/index.ts';

const LOCAL_DEFAULT = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** 'sqlite' or 'postgres' */
  name: string;
  url: string;
  open(): Promise<Destination>;
  drop(): Promise<void>;
}

let pgAdminUrl: Promise<string | null> | undefined;

/** The admin URL of a reachable PostgreSQL, or null (with the reason printed once) when there is none. */
export function postgresAdminUrl(): Promise<string | null> {
  pgAdminUrl ??= (async () => {
    const configured = process.env.TRIBUTARY_TEST_PG_URL;
    const url = configured ?? LOCAL_DEFAULT;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.end();
      return url;
    } catch (err) {
      if (configured) {
        throw new Error(
          `TRIBUTARY_TEST_PG_URL is set but PostgreSQL did not answer: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      console.log(
        `# PostgreSQL tests skipped: no server at ${LOCAL_DEFAULT} and TRIBUTARY_TEST_PG_URL unset`,
      );
      return null;
    }
  })();
  return pgAdminUrl;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-test-'));
  const url = `sqlite:${join(dir, 'test.db')}`;
  return Promise.resolve({
    name: 'sqlite',
    url,
    open: () => openDestination(url),
    drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
}

export async function createPostgresDatabase(): Promise<TestDatabase | null> {
  const admin = await postgresAdminUrl();
  if (!admin) return null;
  const name = `tributary_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = withDatabase(admin, name);
  return {
    name: 'postgres',
    url,
    open: () => openDestination(url),
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Every database the tests should run against here: SQLite always, PostgreSQL when reachable. */
export async function testDatabaseFactories(): Promise<
  { name: string; create: () => Promise<TestDatabase> }[]
> {
  const factories: { name: string; create: () => Promise<TestDatabase> }[] = [
    { name: 'sqlite', create: createSqliteDatabase },
  ];
  if (await postgresAdminUrl()) {
    factories.push({
      name: 'postgres',
      create: async () => {
        const db = await createPostgresDatabase();
        if (!db) throw new Error('PostgreSQL went away');
        return db;
      },
    });
  }
  return factories;
}
