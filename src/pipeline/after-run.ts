import type { ExpectationConfig, HookContext, SyncConfig } from '../config/schema.ts';
import { TributaryError, errorMessage, isTransient } from '../core/errors.ts';
import type { SqlExecutor } from '../destinations/destination.ts';
import { quoteIdent, shadowTableName } from '../destinations/identifiers.ts';

/**
 * What runs when a pass completes, inside the run's final transaction (with the deletes, the
 * cursor and the run's final row): the `afterRun` steps, then the `expect` checks. Both engines
 * have transactional DDL, so a derived table is rebuilt under a shadow name and renamed over the
 * old one in the same transaction: readers see the old table or the new one, never neither.
 */

export async function runAfterRun(tx: SqlExecutor, sync: SyncConfig, ctx: HookContext): Promise<string[]> {
  const done: string[] = [];
  for (const [i, step] of (sync.afterRun ?? []).entries()) {
    const where = `afterRun[${i}]`;
    try {
      if (typeof step === 'function') {
        await step(ctx);
        done.push(`${where}: function`);
      } else if ('sql' in step) {
        await tx.execute(step.sql);
        done.push(`${where}: sql`);
      } else {
        const shadow = quoteIdent(shadowTableName(step.table));
        await tx.execute(`DROP TABLE IF EXISTS ${shadow}`);
        await tx.execute(`CREATE TABLE ${shadow} AS ${step.query}`);
        await tx.execute(`DROP TABLE IF EXISTS ${quoteIdent(step.table)}`);
        await tx.execute(`ALTER TABLE ${shadow} RENAME TO ${quoteIdent(step.table)}`);
        done.push(`${where}: rebuilt ${step.table}`);
      }
    } catch (err) {
      if (isTransient(err)) throw err; // a lost connection: the whole final transaction is retried
      // Terminal otherwise: the same SQL fails the same way on a retry; the message says which step.
      throw new TributaryError('after_run_failed', `${where} failed: ${errorMessage(err)}`, { cause: err });
    }
  }
  return done;
}

export interface ExpectationResult {
  name: string;
  ok: boolean;
  required: boolean;
  /** The measured number: rows, a rate, a query's value, or the count of offending rows. */
  actual: number | null;
  /** What was expected, in words: "≥ 20000", "between 0.15 and 0.16", "0 duplicates". */
  expected: string;
  description?: string;
  /** Set when the check itself could not run (missing table, bad SQL). */
  error?: string;
}

/** Runs every expectation of the sync; never throws for a failing check (a check that cannot run fails). */
export async function checkExpectations(
  tx: SqlExecutor,
  sync: SyncConfig,
  softDeleted: ReadonlySet<string>,
): Promise<ExpectationResult[]> {
  const results: ExpectationResult[] = [];
  for (const [name, e] of Object.entries(sync.expect ?? {})) {
    const required = e.required === true;
    const expected = describeExpected(e);
    try {
      // A savepoint per check: on PostgreSQL a failing query would otherwise abort the whole transaction.
      const actual = await withSavepoint(tx, () => measure(tx, e, softDeleted));
      const ok = e.unique || e.notNull ? actual === 0 : inRange(actual, e);
      results.push({
        name,
        ok,
        required,
        actual,
        expected,
        ...(e.description ? { description: e.description } : {}),
      });
    } catch (err) {
      results.push({ name, ok: false, required, actual: null, expected, error: errorMessage(err) });
    }
  }
  return results;
}

async function withSavepoint<T>(tx: SqlExecutor, fn: () => Promise<T>): Promise<T> {
  await tx.execute('SAVEPOINT tributary_expectation');
  try {
    const value = await fn();
    await tx.execute('RELEASE SAVEPOINT tributary_expectation');
    return value;
  } catch (err) {
    await tx.execute('ROLLBACK TO SAVEPOINT tributary_expectation');
    await tx.execute('RELEASE SAVEPOINT tributary_expectation');
    throw err;
  }
}

const live = (table: string, softDeleted: ReadonlySet<string>): string =>
  softDeleted.has(table) ? ` WHERE ${quoteIdent('_deleted_at')} IS NULL` : '';

async function scalar(tx: SqlExecutor, sql: string): Promise<number> {
  const rows = await tx.query(sql);
  const first = rows[0] ? Object.values(rows[0])[0] : undefined;
  const n = typeof first === 'bigint' ? Number(first) : typeof first === 'string' ? Number(first) : first;
  if (typeof n !== 'number' || Number.isNaN(n)) {
    throw new Error(
      `the query returned ${first === undefined ? 'no row' : JSON.stringify(first)}, not a number`,
    );
  }
  return n;
}

const countRows = (tx: SqlExecutor, table: string, softDeleted: ReadonlySet<string>) =>
  scalar(tx, `SELECT count(*) FROM ${quoteIdent(table)}${live(table, softDeleted)}`);

async function measure(
  tx: SqlExecutor,
  e: ExpectationConfig,
  softDeleted: ReadonlySet<string>,
): Promise<number> {
  if (e.rows !== undefined) return countRows(tx, e.rows, softDeleted);
  if (e.rate !== undefined) {
    const [of, per] = e.rate;
    const denominator = await countRows(tx, per, softDeleted);
    if (denominator === 0) throw new Error(`table ${per} is empty: the rate is undefined`);
    return (await countRows(tx, of, softDeleted)) / denominator;
  }
  if (e.unique !== undefined) {
    const cols = e.unique.columns.map(quoteIdent).join(', ');
    const t = e.unique.table;
    return scalar(
      tx,
      `SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM ${quoteIdent(t)}${live(t, softDeleted)} GROUP BY ${cols} HAVING count(*) > 1) AS d`,
    );
  }
  if (e.notNull !== undefined) {
    const t = e.notNull.table;
    const nulls = e.notNull.columns.map((c) => `${quoteIdent(c)} IS NULL`).join(' OR ');
    const where = live(t, softDeleted);
    return scalar(tx, `SELECT count(*) FROM ${quoteIdent(t)}${where ? `${where} AND` : ' WHERE'} (${nulls})`);
  }
  return scalar(tx, e.sql!);
}

function inRange(v: number, e: ExpectationConfig): boolean {
  return (e.min === undefined || v >= e.min) && (e.max === undefined || v <= e.max);
}

function describeExpected(e: ExpectationConfig): string {
  if (e.unique) return `no duplicate (${e.unique.columns.join(', ')}) in ${e.unique.table}`;
  if (e.notNull) return `no NULL ${e.notNull.columns.join(', ')} in ${e.notNull.table}`;
  if (e.min !== undefined && e.max !== undefined) return `between ${e.min} and ${e.max}`;
  return e.min !== undefined ? `≥ ${e.min}` : `≤ ${e.max}`;
}

/** One line per failed check, for the run's error and `tributary status`. */
export function describeFailures(results: readonly ExpectationResult[]): string[] {
  return results
    .filter((r) => !r.ok)
    .map(
      (r) =>
        `${r.name}: ${r.error ?? `got ${formatNumber(r.actual)}, expected ${r.expected}`}${r.required ? '' : ' (warning)'}`,
    );
}

export function formatNumber(n: number | null): string {
  if (n === null) return '-';
  return Number.isInteger(n) ? String(n) : n.toFixed(4);
}
