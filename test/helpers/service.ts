/**
 * The service for tests: started in process over a test project, logs captured in memory, and
 * a helper that waits for a condition with a generous deadline (never asserting on timing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startService, type RunningService, type ServiceOptions } from '../../src/server/service.ts';
import type { TestProject } from './project.ts';

export interface TestService extends RunningService {
  /** Every log line written so far. */
  logs(): string;
}

export async function startTestService(
  project: TestProject,
  options: ServiceOptions = {},
): Promise<TestService> {
  let logs = '';
  const logStream = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  const service = await startService({
    configFile: project.configFile,
    env: { ...process.env, DATABASE_URL: undefined, TRIBUTARY_TOKEN: undefined, ...options.env },
    port: 0,
    logLevel: 'debug',
    logStream,
    ...options,
  });
  return Object.assign(service, { logs: () => logs });
}

/** Polls `check` until it returns a value other than undefined/false; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'tributary.js');

/** A `tributary` process of a test (serve, worker), with everything it printed. */
export interface TributaryProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts `tributary --config FILE ARGS…` with `env` over this process's environment. */
export function spawnTributary(
  configFile: string,
  args: string[],
  env: Record<string, string>,
): TributaryProcess {
  const child = spawn(process.execPath, [BIN, '--config', configFile, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, output: () => out, exited };
}

/** CSV text of `rows` records `id,name` (1 … rows), for imports large enough to stop midway. */
export function numberedCsv(rows: number): string {
  let text = 'id,name\n';
  for (let i = 1; i <= rows; i++) text += `${i},name ${i}\n`;
  return text;
}
