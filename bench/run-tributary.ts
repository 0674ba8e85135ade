import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../src/pipeline/run-sync.ts';
import { timedSpawn } from './timed-spawn.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PEAK_RSS = fileURLToPath(new URL('./peak-rss.ts', import.meta.url));
const CLI = join(ROOT, 'src/cli/main.ts');
/** GNU time, when installed, cross-checks the preload's peak RSS figure. */
const GNU_TIME = '/usr/bin/time';

/** The CLI's `sync --json` output (DESIGN.md "Files and commands"). */
export type SyncJson = RunResult;

export interface TributaryRun {
  /** Spawn to exit, Node start-up and module loading included: what a user waits for. */
  seconds: number;
  exitCode: number | null;
  result: SyncJson | null;
  /** Peak resident set size in MiB, from getrusage in the child (bench/peak-rss.ts). */
  peakRssMb: number | null;
  /** The same figure as /usr/bin/time -f %M reports it, when GNU time is installed. */
  timeRssMb: number | null;
  stderrTail: string;
}

/**
 * Runs `tributary <args> --config <config>` as a child process exactly as a user would
 * (node --import tsx src/cli/main.ts), with DATABASE_URL pointing at the target database.
 */
export async function runTributary(
  args: readonly string[],
  config: string,
  databaseUrl: string,
  scratchDir: string,
): Promise<TributaryRun> {
  const rssFile = join(scratchDir, 'peak-rss.txt');
  const timeFile = join(scratchDir, 'time-rss.txt');
  rmSync(rssFile, { force: true });
  rmSync(timeFile, { force: true });
  const node = [process.execPath, '--import', 'tsx', '--import', PEAK_RSS, CLI, ...args, '--config', config];
  const useTime = existsSync(GNU_TIME);
  const [command, ...rest] = useTime ? [GNU_TIME, '-f', '%M', '-o', timeFile, ...node] : node;
  const env = { ...process.env, DATABASE_URL: databaseUrl, BENCH_PEAK_RSS_FILE: rssFile };
  const r = await timedSpawn(command!, rest, { env, cwd: ROOT });
  return {
    seconds: r.seconds,
    exitCode: r.code,
    result: lastJsonObject(r.stdout),
    peakRssMb: readKib(rssFile),
    timeRssMb: useTime ? readKib(timeFile) : null,
    stderrTail: r.stderr.trim().split('\n').slice(-40).join('\n'),
  };
}

function readKib(path: string): number | null {
  if (!existsSync(path)) return null;
  // GNU time writes "Command exited with non-zero status N" before the figure on failures.
  const last = readFileSync(path, 'utf8').trim().split('\n').pop() ?? '';
  const kib = Number(last);
  return Number.isFinite(kib) && last !== '' ? kib / 1024 : null;
}

function lastJsonObject(stdout: string): SyncJson | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line) as SyncJson;
    } catch {
      /* not JSON after all */
    }
  }
  return null;
}
