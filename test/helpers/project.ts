/**
 * A throwaway project folder for end-to-end tests: data files and a config file pointing at a
 * test database, opened through the same library API the CLI uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Tributary } from '../../src/tributary.ts';

export interface TestProject {
  dir: string;
  configFile: string;
  write(name: string, content: string): string;
  writeConfig(config: Record<string, unknown>): void;
  open(): Promise<Tributary>;
  remove(): void;
}

export function createProject(databaseUrl: string): TestProject {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-project-'));
  const configFile = join(dir, 'tributary.config.yaml');
  return {
    dir,
    configFile,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    },
    writeConfig(config) {
      writeFileSync(configFile, stringify({ database: databaseUrl, ...config }));
    },
    open: () => Tributary.open({ configFile, env: { ...process.env, DATABASE_URL: undefined } }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** CSV text from a header and rows; values are quoted when they need it. */
export function csv(header: string[], rows: (string | number | null)[][]): string {
  const cell = (v: string | number | null) => {
    if (v === null) return '';
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header.join(','), ...rows.map((r) => r.map(cell).join(','))].join('\n') + '\n';
}
