import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATOR_VERSION, generateNotices } from '../src/demo/generate-notices.ts';
import { writeCsv } from '../src/demo/write-csv.ts';
import { writeJsonl } from '../src/demo/write-jsonl.ts';

export interface BenchData {
  rows: number;
  csv: string;
  jsonl: string;
  csvBytes: number;
  jsonlBytes: number;
}

interface Manifest {
  rows: number;
  seed: number;
  generatorVersion: number;
  csvBytes: number;
  jsonlBytes: number;
}

/**
 * The benchmark's input files, generated once per (rows, seed, generator version) and reused:
 * a manifest beside them records what they hold, and the sizes must still match. Clean data
 * (ISO dates, no sentinels) so `psql \copy` and `sqlite3 .import` load the same file.
 */
export async function ensureBenchData(dir: string, rows: number, seed: number): Promise<BenchData> {
  const base = join(dir, `notices-${rows}-s${seed}`);
  const csv = `${base}.csv`;
  const jsonl = `${base}.jsonl`;
  const manifestPath = `${base}.manifest.json`;
  if (existsSync(manifestPath) && existsSync(csv) && existsSync(jsonl)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    if (
      m.rows === rows &&
      m.seed === seed &&
      m.generatorVersion === GENERATOR_VERSION &&
      statSync(csv).size === m.csvBytes &&
      statSync(jsonl).size === m.jsonlBytes
    ) {
      return { rows, csv, jsonl, csvBytes: m.csvBytes, jsonlBytes: m.jsonlBytes };
    }
  }
  const started = Date.now();
  process.stderr.write(`generating ${rows} rows (seed ${seed}) into ${dir} … `);
  await writeCsv(csv, generateNotices(rows, seed, { messy: false }));
  await writeJsonl(jsonl, generateNotices(rows, seed, { messy: false }));
  const manifest: Manifest = {
    rows,
    seed,
    generatorVersion: GENERATOR_VERSION,
    csvBytes: statSync(csv).size,
    jsonlBytes: statSync(jsonl).size,
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  process.stderr.write(`${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return { rows, csv, jsonl, csvBytes: manifest.csvBytes, jsonlBytes: manifest.jsonlBytes };
}
