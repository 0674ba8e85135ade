import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { redactConfig } from '../config/load.ts';
import { TributaryError, errorMessage } from '../core/errors.ts';
import { createStderrLogger } from '../core/logger.ts';
import { zeroCounts, type RunStatus } from '../core/types.ts';
import { describeFailures, formatNumber, type ExpectationResult } from '../pipeline/after-run.ts';
import type { RunResult, TableCounts } from '../pipeline/run-sync.ts';
import { Tributary } from '../tributary.ts';
import { fmtAgo, fmtInt, table, truncate } from './format.ts';
import { createProgress } from './progress.ts';
import { scheduleProblem } from '../scheduler/schedule.ts';

/**
 * `tributary` — thin commands over the library API (src/tributary.ts).
 * Exit codes (DESIGN contract): 0 succeeded, 3 succeeded with quarantined records, 1 failed,
 * 2 usage or config error, 130 cancelled.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, partial: 3, cancelled: 130 } as const;

const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const DEMO_CONFIG = join(REPO_ROOT, 'demo', 'tributary.demo.yaml');

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${v}" is not a positive whole number`);
  return n;
};

const program = new Command()
  .name('tributary')
  .description('Import data from APIs and files into PostgreSQL or SQLite, and keep it in sync.')
  .option(
    '--config <file>',
    'config file (default: tributary.config.{ts,mjs,js,yaml,yml,json} here, or $TRIBUTARY_CONFIG)',
  )
  .showHelpAfterError()
  .exitOverride();

const logger = createStderrLogger();

async function withTributary<T>(fn: (t: Tributary) => Promise<T> | T, configFile?: string): Promise<T> {
  const t = await Tributary.open({ configFile: configFile ?? program.opts().config, logger });
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

const print = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));

program
  .command('init')
  .description('create or migrate the state tables')
  .action(async () => {
    await withTributary((t) => {
      print(`state tables ready in ${t.dest.description}`);
    });
  });

program
  .command('config')
  .description('print the resolved config, secrets redacted')
  .option('--json', 'machine-readable output')
  .action(async (opts) => {
    await withTributary((t) => {
      const redacted = redactConfig(t.config);
      print(opts.json ? JSON.stringify(redacted, null, 2) : `# ${t.configFile}\n${toYaml(redacted)}`);
    });
  });

program
  .command('check')
  .description('test connections and credentials')
  .argument('[syncs...]', 'syncs to check (default: all)')
  .option('--json', 'machine-readable output')
  .action(async (names, opts) => {
    const failed = await withTributary(async (t) => {
      const list = names.length ? names : t.syncNames;
      const results = [];
      for (const name of list) {
        try {
          results.push({ sync: name, ...(await t.check(name)) });
        } catch (err) {
          results.push({ sync: name, ok: false, message: errorMessage(err) });
        }
      }
      if (opts.json) printJson(results);
      else for (const r of results) print(`${r.ok ? '✓' : '✗'} ${r.sync}: ${r.message}`);
      return results.some((r) => !r.ok);
    });
    process.exitCode = failed ? EXIT.failed : EXIT.ok;
  });

program
  .command('sync')
  .description('run syncs now')
  .argument('[syncs...]', 'syncs to run')
  .option('--all', 'run every configured sync')
  .option('--full', 'ignore the stored cursor and read everything')
  .option('--limit <n>', 'stop after N records (the next run continues)', positiveInt)
  .option('--batch-size <n>', 'records per transaction', positiveInt)
  .option('--dry-run', 'read, map and validate without writing')
  .option('--json', 'print one JSON object per run on stdout, nothing else')
  .action(async (names, opts) => {
    const results = await withTributary(async (t) => {
      if (!opts.all && names.length === 0) {
        throw new TributaryError(
          'usage',
          `name the syncs to run, or --all; configured: ${t.syncNames.join(', ') || '(none)'}`,
        );
      }
      const list = opts.all ? t.syncNames : names;
      for (const name of list) t.syncConfig(name);
      return runWithSignals(t, list, {
        full: opts.full,
        limit: opts.limit,
        batchSize: opts.batchSize,
        dryRun: opts.dryRun,
        json: opts.json ?? false,
      });
    });
    process.exitCode = exitCodeFor(results.map((r) => r.status));
  });

program
  .command('status')
  .description('per sync: last run, cursor, counts, schedule')
  .option('--json', 'machine-readable output')
  .action(async (opts) => {
    await withTributary(async (t) => {
      const overview = await t.overview();
      if (opts.json) return printJson(overview);
      print(
        table(
          [
            'SYNC',
            'SOURCE',
            'TABLE',
            'MODE',
            'LAST RUN',
            'STATUS',
            'RECORDS',
            'CURSOR',
            'OK/FAIL',
            'SCHEDULE',
            'NEXT RUN',
          ],
          overview.map((s) => [
            s.enabled ? s.name : `${s.name} (disabled)`,
            truncate(s.source, 40),
            s.table,
            s.mode,
            fmtAgo(s.status?.lastAttemptAt),
            (s.status?.lastStatus ?? 'never run') + (s.status?.pass ? ' (pass open)' : ''),
            s.status?.lastRecordCount == null ? '-' : fmtInt(s.status.lastRecordCount),
            s.status?.cursor == null ? '-' : String(s.status.cursor),
            `${s.status?.successCount ?? 0}/${s.status?.failureCount ?? 0}`,
            s.schedule ?? 'manual',
            s.nextRunAt === null ? '-' : s.nextRunAt.slice(0, 16).replace('T', ' ') + 'Z',
          ]),
        ),
      );
      const errors = overview.filter((s) => s.status?.lastError);
      for (const s of errors) print(`\n${s.name}: ${s.status!.lastError}`);
      for (const s of overview.filter((o) => o.expectations.length > 0)) {
        const failed = describeFailures(s.expectations);
        print(
          `\n${s.name} expectations: ${s.expectations.length - failed.length} of ${s.expectations.length} met` +
            failed.map((f) => `\n  ✗ ${f}`).join(''),
        );
      }
    });
  });

program
  .command('history')
  .description('recent runs')
  .option('--sync <name>', 'only this sync')
  .option('--limit <n>', 'how many runs', positiveInt, 20)
  .option('--json', 'machine-readable output')
  .action(async (opts) => {
    await withTributary(async (t) => {
      if (opts.sync) t.syncConfig(opts.sync);
      const runs = await t.state.listRuns({ sync: opts.sync, limit: opts.limit });
      if (opts.json) return printJson(runs);
      if (runs.length === 0) return print('no runs yet; start one with: tributary sync <name>');
      print(
        table(
          [
            'RUN',
            'SYNC',
            'TRIGGER',
            'STATUS',
            'STARTED',
            'DURATION',
            'READ',
            'NEW',
            'CHANGED',
            'UNCHANGED',
            'DELETED',
            'QUARANTINED',
          ],
          runs.map((r) => [
            String(r.id),
            r.sync,
            r.trigger,
            r.status,
            fmtAgo(r.startedAt),
            r.durationMs === null ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`,
            r.read,
            r.inserted,
            r.updated,
            r.unchanged,
            r.deleted,
            r.quarantined,
          ]),
        ),
      );
    });
  });

program
  .command('run')
  .description('one run in detail, with its errors')
  .argument('<runId>', 'run id', positiveInt)
  .option('--json', 'machine-readable output')
  .action(async (id, opts) => {
    await withTributary(async (t) => {
      const run = await t.state.getRun(id);
      if (!run)
        throw new TributaryError('run_not_found', `no run with id ${id}; list runs with: tributary history`);
      const rejected = await t.state.listQuarantine({ runId: id, limit: 20 });
      if (opts.json) return printJson({ ...run, quarantine: rejected });
      const lines = [
        `run ${run.id} of ${run.sync}: ${run.status}`,
        `  trigger      ${run.trigger}${run.fullRefresh ? ' (full refresh)' : ''}`,
        `  started      ${run.startedAt}`,
        `  finished     ${run.finishedAt ?? '-'}${run.durationMs !== null ? ` (${(run.durationMs / 1000).toFixed(1)}s)` : ''}`,
        `  instance     ${run.instance ?? '-'}`,
        `  records      read ${fmtInt(run.read)} · new ${fmtInt(run.inserted)} · changed ${fmtInt(run.updated)} · unchanged ${fmtInt(run.unchanged)} · deleted ${fmtInt(run.deleted)} · quarantined ${fmtInt(run.quarantined)}`,
        `  batches      ${run.batches}`,
        `  cursor       ${run.cursorStart ?? '-'} → ${run.cursorEnd ?? '-'}`,
      ];
      const { expectations, tables, ...notes } = (run.metadata ?? {}) as {
        expectations?: ExpectationResult[];
        tables?: Record<string, TableCounts>;
      };
      const width = Math.max(12, ...Object.keys(tables ?? {}).map((n) => n.length));
      for (const [name, c] of Object.entries(tables ?? {})) {
        lines.push(
          `  ${name.padEnd(width)} new ${fmtInt(c.inserted)} · changed ${fmtInt(c.updated)} · unchanged ${fmtInt(c.unchanged)} · deleted ${fmtInt(c.deleted)}`,
        );
      }
      if (Object.keys(notes).length) lines.push(`  notes        ${JSON.stringify(notes)}`);
      if (expectations?.length) {
        lines.push('', 'expectations:');
        for (const e of expectations) {
          const mark = e.ok ? '✓' : e.required ? '✗' : '!';
          lines.push(
            `  ${mark} ${e.name}: ${e.error ?? `${formatNumber(e.actual)} (expected ${e.expected})`}${!e.ok && !e.required ? ' (warning)' : ''}`,
          );
        }
      }
      if (run.error) lines.push(`  error        ${run.error}`);
      if (rejected.length) {
        lines.push('', `quarantined records (${rejected.length} of ${fmtInt(run.quarantined)} shown):`);
        for (const q of rejected)
          lines.push(
            `  [${q.reasonCode}] ${q.recordKey ? `${q.recordKey}: ` : ''}${truncate(q.message, 140)}`,
          );
      }
      print(lines.join('\n'));
    });
  });

program
  .command('cancel')
  .description('ask a running run to stop (it stops after its current batch)')
  .argument('<runId>', 'run id', positiveInt)
  .action(async (id) => {
    await withTributary(async (t) => {
      const run = await t.state.getRun(id);
      if (!run)
        throw new TributaryError('run_not_found', `no run with id ${id}; list runs with: tributary history`);
      if (!(await t.state.requestCancel(id))) {
        print(`run ${id} is not running (status: ${run.status}); nothing to cancel`);
        return;
      }
      print(
        `cancel requested for run ${id} (${run.sync}); it stops within a few seconds and keeps its checkpoint`,
      );
    });
  });

program
  .command('quarantine')
  .description('rejected records with reasons')
  .option('--sync <name>', 'only this sync')
  .option('--run <id>', 'only this run', positiveInt)
  .option('--limit <n>', 'how many records', positiveInt, 50)
  .option('--json', 'machine-readable output')
  .action(async (opts) => {
    await withTributary(async (t) => {
      if (opts.sync) t.syncConfig(opts.sync);
      const rows = await t.state.listQuarantine({ sync: opts.sync, runId: opts.run, limit: opts.limit });
      if (opts.json) return printJson(rows);
      if (rows.length === 0) return print('no quarantined records');
      print(
        table(
          ['RUN', 'SYNC', 'KEY', 'REASON', 'MESSAGE'],
          rows.map((q) => [
            String(q.runId),
            q.sync,
            q.recordKey ?? '-',
            q.reasonCode,
            truncate(q.message, 100),
          ]),
        ),
      );
    });
  });

program
  .command('data')
  .description('rows of a table')
  .argument('<table>', 'table name')
  .option(
    '--where <col=val>',
    'filter (repeatable)',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option('--limit <n>', 'how many rows', positiveInt, 20)
  .option('--json', 'machine-readable output')
  .action(async (name, opts) => {
    await withTributary(async (t) => {
      const where: Record<string, string> = {};
      for (const w of opts.where) {
        const eq = w.indexOf('=');
        if (eq <= 0) throw new TributaryError('usage', `--where "${w}" must look like COLUMN=VALUE`);
        where[w.slice(0, eq)] = w.slice(eq + 1);
      }
      const rows = await t.data(name, { where, limit: opts.limit });
      if (opts.json) return printJson(rows);
      if (rows.length === 0) return print('no rows');
      const cols = Object.keys(rows[0]!);
      print(
        table(
          cols,
          rows.map((r) => cols.map((c) => (r[c] === null ? '' : truncate(String(r[c]), 40)))),
        ),
      );
    });
  });

for (const [cmd, enabled] of [
  ['enable', true],
  ['disable', false],
] as const) {
  program
    .command(cmd)
    .description(`${cmd} a sync's schedule at runtime (stored in the database)`)
    .argument('<sync>', 'sync name')
    .action(async (name) => {
      await withTributary(async (t) => {
        t.syncConfig(name);
        await t.state.setEnabled(name, enabled);
        print(`${name} ${enabled ? 'enabled' : 'disabled'}`);
      });
    });
}

program
  .command('schedule')
  .description('set a sync\'s schedule at runtime: a cron expression, "every 30m", or off')
  .argument('<sync>', 'sync name')
  .argument('<schedule>', 'cron expression, "every 30m", or off')
  .action(async (name, schedule) => {
    await withTributary(async (t) => {
      t.syncConfig(name);
      const problem = scheduleProblem(schedule, t.config.service?.timezone);
      if (problem) throw new TributaryError('usage', problem);
      await t.state.setSchedule(name, schedule.trim());
      print(`${name}: schedule ${schedule}`);
    });
  });

const EMULATORS = ['airtable', 'odk', 'github', 'linear'] as const;
const nonNegativeInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${v}" is not a whole number`);
  return n;
};

program
  .command('emulate')
  .description('run a local emulator of an API, for trying configs offline and for tests')
  .argument('<api>', EMULATORS.join('|'))
  .option('--port <port>', 'port to listen on (0: any free port)', nonNegativeInt, 0)
  .option('--seed <n>', 'seed of the generated data (same seed, same data)', nonNegativeInt, 1)
  .option('--records <n>', 'records per table', positiveInt)
  .option('--dataset <name>', 'airtable: enforcement | clinic', 'enforcement')
  .option('--faults <spec>', 'inject faults, e.g. 429:0.05,500:0.02,reset:0.01,slow:0.01')
  .option('--rate <n>', 'airtable: requests per second per base before 429', positiveInt)
  .option('--penalty <ms>', 'airtable: how long a base stays rate-limited after a 429', nonNegativeInt)
  .action(async (api, opts) => {
    if (api !== 'airtable') {
      throw new TributaryError(
        'usage',
        EMULATORS.includes(api as (typeof EMULATORS)[number])
          ? `the ${api} emulator is not built yet; available: airtable`
          : `unknown API "${api}"; emulators: ${EMULATORS.join(', ')}`,
      );
    }
    if (opts.dataset !== 'enforcement' && opts.dataset !== 'clinic') {
      throw new TributaryError('usage', `--dataset must be enforcement or clinic, not "${opts.dataset}"`);
    }
    const { startAirtableEmulator } = await import('../emulators/airtable/airtable-emulator.ts');
    const emulator = await startAirtableEmulator({
      port: opts.port,
      seed: opts.seed,
      records: opts.records,
      dataset: opts.dataset,
      faults: opts.faults,
      ratePerSecond: opts.rate,
      penaltyMs: opts.penalty,
      // An empty variable means no token, as the banner below says.
      token: process.env.AIRTABLE_TOKEN || undefined,
    });
    const lines = [
      `Airtable emulator listening on ${emulator.url} (seed ${opts.seed}, dataset ${opts.dataset})`,
    ];
    for (const base of emulator.bases) {
      lines.push(
        `  base ${base.id} (${base.name}): ${base.tables.map((t) => `${t.name} [${t.id}]`).join(', ')}`,
      );
    }
    lines.push(
      process.env.AIRTABLE_TOKEN
        ? '  requests need: Authorization: Bearer $AIRTABLE_TOKEN'
        : '  no token required (set AIRTABLE_TOKEN to require one)',
      `  admin: POST/PATCH/DELETE ${emulator.url}/__admin/{base}/{table}/records, GET ${emulator.url}/__admin/stats`,
      '  Ctrl-C to stop',
    );
    print(lines.join('\n'));
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await emulator.close();
  });

program
  .command('serve')
  .description('HTTP API, live events, scheduler and a worker, until SIGTERM or Ctrl-C')
  .option(
    '--port <port>',
    'port to listen on (default: server.port in the config, else 3000; 0: any free port)',
    nonNegativeInt,
  )
  .option('--host <host>', 'address to listen on (default 127.0.0.1; others need TRIBUTARY_TOKEN)')
  .option('--no-scheduler', 'do not run schedules or runOnStart in this instance (API and worker only)')
  .action(async (opts) => {
    await serveUntilSignal({
      configFile: program.opts().config,
      port: opts.port,
      host: opts.host,
      scheduler: opts.scheduler,
    });
  });

program
  .command('worker')
  .description(
    'take runs from the shared queue (PostgreSQL mode) until SIGTERM or Ctrl-C; no HTTP, no schedules',
  )
  .action(async () => {
    await serveUntilSignal({ configFile: program.opts().config, http: false, scheduler: false });
  });

program
  .command('demo')
  .description(
    'serve the bundled demo config (what `npm start` does): its syncs run at start, then on their schedules',
  )
  .option('--port <port>', 'port to listen on (0: any free port)', nonNegativeInt)
  .action(async (opts) => {
    if (!existsSync(DEMO_CONFIG))
      throw new TributaryError('config_not_found', `demo config missing at ${DEMO_CONFIG}`);
    // Quiet by default: the banner is for a person; TRIBUTARY_LOG_LEVEL=info shows the JSON log.
    const logLevel = process.env.TRIBUTARY_LOG_LEVEL ?? 'warn';
    await serveUntilSignal({ configFile: DEMO_CONFIG, port: opts.port, logLevel }, (url, db) =>
      [
        `Tributary demo — config ${rel(DEMO_CONFIG)}, database ${db}`,
        `Serving on ${url}`,
        `  ${url}/api/syncs          syncs and their state`,
        `  ${url}/api/runs           run history`,
        `  ${url}/api/events         live progress (Server-Sent Events)`,
        `  ${url}/openapi.json       the API`,
        `Ctrl-C to stop.`,
      ].join('\n'),
    );
  });

/**
 * Runs the service until SIGINT or SIGTERM, then stops gracefully: runs end after their current
 * batch as interrupted (the next run resumes them). A second signal exits at once.
 */
async function serveUntilSignal(
  options: import('../server/service.ts').ServiceOptions,
  banner?: (url: string, database: string) => string,
): Promise<void> {
  const { startService } = await import('../server/service.ts');
  const service = await startService(options);
  if (!service.url && service.ctx.queue.kind === 'in-process') {
    await service.close();
    throw new TributaryError(
      'usage',
      'tributary worker takes runs from the queue shared through a PostgreSQL database; with SQLite, `tributary serve` runs them itself',
    );
  }
  if (service.url)
    print(
      banner ? banner(service.url, service.ctx.t.dest.description) : `Tributary listening on ${service.url}`,
    );
  else print(`Tributary worker ${service.ctx.instance} taking runs from the ${service.ctx.queue.kind} queue`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const force = () => process.exit(EXIT.cancelled);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  process.stderr.write(
    `${signal}: stopping; runs in progress stop after their current batch (again to exit at once)\n`,
  );
  await service.close();
}

function rel(p: string): string {
  return p.startsWith(process.cwd()) ? p.slice(process.cwd().length + 1) : p;
}

/**
 * Runs syncs one after another. Ctrl-C (SIGINT) cancels the current run after its batch, SIGTERM
 * marks it interrupted; either way the next run resumes from the last committed checkpoint.
 */
async function runWithSignals(
  t: Tributary,
  names: string[],
  opts: { full?: boolean; limit?: number; batchSize?: number; dryRun?: boolean; json: boolean },
): Promise<RunResult[]> {
  const controller = new AbortController();
  const onSigint = () => controller.abort('cancel');
  const onSigterm = () => controller.abort('interrupt');
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  const progress = createProgress({ tty: process.stderr.isTTY === true, quiet: false });
  const results: RunResult[] = [];
  try {
    for (const name of names) {
      if (controller.signal.aborted) break;
      let result: RunResult;
      try {
        result = await t.sync(name, {
          trigger: 'cli',
          full: opts.full,
          limit: opts.limit,
          batchSize: opts.batchSize,
          dryRun: opts.dryRun,
          signal: controller.signal,
          onEvent: progress.listener,
        });
      } catch (err) {
        if (!(err instanceof TributaryError) || err.code !== 'sync_busy') throw err;
        result = {
          runId: null,
          sync: name,
          status: 'failed',
          ...zeroCounts(),
          durationMs: 0,
          error: err.message,
        };
        if (!opts.json) process.stderr.write(`${name}: ${err.message}\n`);
      }
      if (opts.dryRun && !opts.json) {
        process.stderr.write(
          `${name}: dry run — read ${fmtInt(result.read)}, would write ${fmtInt(result.read - result.quarantined)}, would quarantine ${fmtInt(result.quarantined)}\n`,
        );
      }
      results.push(result);
      if (opts.json) print(JSON.stringify(result));
    }
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
  return results;
}

function exitCodeFor(statuses: RunStatus[]): number {
  if (statuses.includes('failed')) return EXIT.failed;
  if (statuses.includes('cancelled') || statuses.includes('interrupted')) return EXIT.cancelled;
  if (statuses.includes('partial')) return EXIT.partial;
  return EXIT.ok;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = (err as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    // commander has printed its own message; help and version are not errors.
    process.exitCode =
      code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help'
        ? 0
        : EXIT.usage;
  } else {
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    const usage =
      err instanceof TributaryError &&
      ['config_invalid', 'config_not_found', 'usage', 'sync_not_found', 'run_not_found'].includes(err.code);
    process.exitCode = usage ? EXIT.usage : EXIT.failed;
  }
}
