import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { createJiti } from 'jiti';
import YAML from 'yaml';
import type { z } from 'zod';
import { TributaryError, errorMessage } from '../core/errors.ts';
import { getSourceFactory } from '../sources/registry.ts';
import { interpolateConfig, type ConfigPath } from './interpolate.ts';
import { rememberSecrets } from './redact.ts';
import { configSchema, type Config } from './schema.ts';

// `tributary config` prints what loadConfig loaded; the two belong together for callers.
export { redactConfig } from './redact.ts';

/**
 * Finds, reads, interpolates and validates the config file (DESIGN.md "Config file").
 *
 * Order: read (YAML / JSON / TS / JS) → `${VAR}` interpolation of every string value →
 * DATABASE_URL override → the config schema → each sync's `source` block against its source
 * type's own schema. Every problem found is reported in ONE TributaryError('config_invalid'),
 * one line per problem: `<file>: <path>: <problem>` (or `<file>:<line>:<column>: …` for syntax).
 */
export interface LoadConfigOptions {
  /** Config file (relative to cwd). Default: $TRIBUTARY_CONFIG, else discovery in cwd. */
  file?: string;
  /** Folder to discover the config in and resolve `file` against (default process.cwd()). */
  cwd?: string;
  /** Environment for discovery, interpolation and DATABASE_URL (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read. */
  file: string;
  /** The file's folder: relative paths in the config resolve against it. */
  baseDir: string;
}

/** Discovery order in the working directory; the first that exists wins. */
export const CONFIG_FILE_NAMES = [
  'tributary.config.ts',
  'tributary.config.mjs',
  'tributary.config.js',
  'tributary.config.yaml',
  'tributary.config.yml',
  'tributary.config.json',
] as const;

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const file = findConfigFile(options.file, cwd, env);
  const raw = await readConfigFile(file);

  const problems: string[] = [];
  const interpolated = interpolateConfig(raw, env);
  const badPaths = new Set<string>();
  for (const p of interpolated.problems) {
    problems.push(`${file}: ${formatPath(p.path)}: ${p.message}`);
    badPaths.add(formatPath(p.path));
  }
  const value = interpolated.value;
  const sources = interpolated.sources;
  const databaseUrl = env.DATABASE_URL;
  if (databaseUrl !== undefined && databaseUrl !== '' && isRecord(value)) {
    value.database = databaseUrl;
    sources.push({ path: ['database'], variables: ['DATABASE_URL'] });
  }

  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    for (const line of formatIssues(parsed.error.issues)) {
      // An unset variable already explains the value it left behind.
      if (!badPaths.has(line.path)) problems.push(`${file}: ${line.path}: ${line.message}`);
    }
  } else {
    for (const [name, sync] of Object.entries(parsed.data.syncs)) {
      problems.push(
        ...checkSource(name, sync.source)
          .filter((l) => !badPaths.has(l.path))
          .map((l) => `${file}: ${l.path}: ${l.message}`),
      );
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new TributaryError('config_invalid', `invalid config:\n${problems.join('\n')}`);
  }
  rememberSecrets(parsed.data, sources);
  return { config: parsed.data, file, baseDir: dirname(file) };
}

function findConfigFile(explicit: string | undefined, cwd: string, env: NodeJS.ProcessEnv): string {
  const chosen = explicit ?? (env.TRIBUTARY_CONFIG || undefined);
  if (chosen !== undefined) {
    const file = resolve(cwd, chosen);
    if (!existsSync(file)) {
      const via = explicit === undefined ? ' (from $TRIBUTARY_CONFIG)' : '';
      throw new TributaryError('config_not_found', `config file ${file}${via} does not exist`);
    }
    return file;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = resolve(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new TributaryError(
    'config_not_found',
    `no config file in ${cwd} (looked for ${CONFIG_FILE_NAMES.join(', ')}, and $TRIBUTARY_CONFIG is not set).\n` +
      'Create tributary.config.yaml there, for example:\n' +
      '  syncs:\n' +
      '    notices:\n' +
      '      source: { type: csv, path: ./data/notices.csv }\n' +
      '      target: { table: notices, primaryKey: id, columns: { id: text, name: text } }\n' +
      'or pass --config FILE.',
  );
}

async function readConfigFile(file: string): Promise<unknown> {
  const ext = extname(file).toLowerCase();
  if (
    ext === '.ts' ||
    ext === '.mts' ||
    ext === '.cts' ||
    ext === '.js' ||
    ext === '.mjs' ||
    ext === '.cjs'
  ) {
    return importModule(file);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TributaryError('config_not_found', `cannot read config file ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (ext === '.json') return parseJson(file, text);
  if (ext === '.yaml' || ext === '.yml') return parseYaml(file, text);
  throw new TributaryError(
    'config_invalid',
    `${file}: unknown config file type "${ext || basename(file)}"; use .ts, .mjs, .js, .yaml, .yml or .json`,
  );
}

async function importModule(file: string): Promise<unknown> {
  // moduleCache off: a long-running service that reloads its config must see the new file.
  const jiti = createJiti(import.meta.url, { moduleCache: false });
  let mod: unknown;
  try {
    mod = await jiti.import(file, { default: true });
  } catch (err) {
    throw new TributaryError('config_invalid', `${file}: cannot load: ${errorMessage(err)}`, { cause: err });
  }
  if (typeof mod === 'function') mod = await (mod as () => unknown)(); // export default () => defineConfig({...})
  if (!isRecord(mod)) {
    throw new TributaryError('config_invalid', `${file}: the module must default-export defineConfig({...})`);
  }
  return mod;
}

const MAX_SYNTAX_LINES = 5;

function parseYaml(file: string, text: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      // yaml appends " at line L, column C:" and a source excerpt; we put the position up front.
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${message}`;
    });
    // One mistake early in a file derails the parser for the rest; the first few lines say it all.
    if (lines.length > MAX_SYNTAX_LINES)
      lines.splice(MAX_SYNTAX_LINES, Infinity, `${file}: … and ${lines.length - MAX_SYNTAX_LINES} more`);
    // `{` and `}` are YAML flow indicators: { port: ${PORT} } does not parse unless quoted.
    if (/[[{][^\n]*\$\{/.test(text)) {
      lines.push(`${file}: hint: inside { } or [ ], quote values that use \${…}, e.g. { port: "\${PORT}" }`);
    }
    throw new TributaryError('config_invalid', `invalid config:\n${lines.join('\n')}`);
  }
  return doc.toJS({ maxAliasCount: 100 }) ?? {};
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = errorMessage(err);
    const at = /at position (\d+)/.exec(message);
    let where = '';
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split('\n').length;
      where = `:${line}:${before.length - before.lastIndexOf('\n')}`;
    }
    throw new TributaryError('config_invalid', `invalid config:\n${file}${where}: ${message}`);
  }
}

/** Validates a sync's `source` block against its source type's schema. */
function checkSource(sync: string, source: { type: string }): { path: string; message: string }[] {
  const base = ['syncs', sync, 'source'];
  let factory;
  try {
    factory = getSourceFactory(source.type);
  } catch (err) {
    return [{ path: formatPath([...base, 'type']), message: errorMessage(err) }];
  }
  const result = factory.configSchema.safeParse(source);
  if (result.success) return [];
  return formatIssues(result.error.issues, base);
}

// ───────────────────────────────────────── issue formatting ─────────────────────────────────────────

/** syncs.notices.target.primaryKey[0] */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out === '' ? '(top level)' : out;
}

type Issue = z.core.$ZodIssue;

/**
 * zod issues → one line each. A union (a column is `"text"` or `{type: …}`) reports the branch
 * that got furthest: for `{type: "datee"}` that is "type: Invalid option…", not "Invalid input".
 */
export function formatIssues(
  issues: readonly Issue[],
  prefix: readonly (string | number)[] = [],
): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Prefer a branch that failed inside the value; else one that at least accepted its type.
      const deeper = issue.errors.filter((branch) => branch.some((i) => i.path.length > 0));
      const typed = issue.errors.filter(
        (branch) => !branch.every((i) => i.path.length === 0 && i.code === 'invalid_type'),
      );
      const chosen =
        deeper.length === 1 ? deeper[0] : deeper.length === 0 && typed.length === 1 ? typed[0] : undefined;
      if (chosen) {
        out.push(...formatIssues(chosen, path));
        continue;
      }
      const messages = [...new Set(issue.errors.flatMap((branch) => branch.map((i) => i.message)))];
      out.push({ path: formatPath(path), message: messages.join(', or ') });
      continue;
    }
    out.push({ path: formatPath(path), message: issue.message });
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
