/**
 * An example's config (examples/<name>/tributary.config.*) run unchanged against the Airtable
 * emulator and a test database: the environment the config reads (base id, token, endpoint, a
 * rate the emulator allows) points at the emulator, DATABASE_URL at the database.
 */
import { after, before } from 'node:test';
import {
  startAirtableEmulator,
  type AirtableEmulator,
  type AirtableEmulatorOptions,
} from '../../src/emulators/airtable/airtable-emulator.ts';
import { Tributary } from '../../src/tributary.ts';
import type { TestDatabase } from './databases.ts';

export interface ExampleContext {
  emulator: AirtableEmulator;
  baseId: string;
  t: Tributary;
  db: TestDatabase;
}

/**
 * Registers before/after hooks in the enclosing describe block and returns the context they fill.
 * The emulator allows more than Airtable's 5 requests/s so tests stay short; the benchmark
 * (bench/airtable-rate.ts) runs at the real limit.
 */
export function exampleWithEmulator(options: {
  config: string;
  database: () => Promise<TestDatabase>;
  emulator: AirtableEmulatorOptions;
}): ExampleContext {
  const token = 'patExampleTest.0123456789';
  const ctx = {} as ExampleContext;
  before(async () => {
    ctx.emulator = await startAirtableEmulator({
      token,
      ratePerSecond: 200,
      penaltyMs: 500,
      ...options.emulator,
    });
    ctx.baseId = ctx.emulator.bases[0]!.id;
    ctx.db = await options.database();
    ctx.t = await Tributary.open({
      configFile: options.config,
      env: {
        ...process.env,
        DATABASE_URL: ctx.db.url,
        AIRTABLE_BASE_ID: ctx.baseId,
        AIRTABLE_TOKEN: token,
        AIRTABLE_ENDPOINT: ctx.emulator.url,
        AIRTABLE_RATE_PER_SECOND: '150',
      },
    });
  });
  after(async () => {
    await ctx.t?.close();
    await ctx.emulator?.close();
    await ctx.db?.drop();
  });
  return ctx;
}
