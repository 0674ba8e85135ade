/**
 * Regenerates the bundled demo's data files (demo/data/), deterministically: running it again
 * yields byte-identical files. Sizes keep the committed files under 2 MB together.
 *
 *   npm run demo:generate
 */
import { fileURLToPath } from 'node:url';
import { stat } from 'node:fs/promises';
import { generateNotices } from '../src/demo/generate-notices.ts';
import { corruptNotices, type CorruptionKind } from '../src/demo/corrupt-notices.ts';
import { writeCsv } from '../src/demo/write-csv.ts';
import { writeJsonl } from '../src/demo/write-jsonl.ts';

const DATA_DIR = fileURLToPath(new URL('../demo/data/', import.meta.url));
/** About 1% bad records, so the demo's quarantine has something to show. */
const CORRUPT_RATE = 0.01;

const FILES = [
  { name: 'notices.csv', count: 2000, seed: 1, write: writeCsv },
  { name: 'notices.jsonl', count: 1500, seed: 2, write: writeJsonl },
] as const;

for (const file of FILES) {
  const path = DATA_DIR + file.name;
  const bad = new Map<CorruptionKind, number>();
  const records = corruptNotices(
    generateNotices(file.count, file.seed),
    CORRUPT_RATE,
    file.seed,
    (_i, kind) => bad.set(kind, (bad.get(kind) ?? 0) + 1),
  );
  const written = await file.write(path, records);
  const { size } = await stat(path);
  const badText = [...bad].map(([kind, n]) => `${kind} ${n}`).join(', ');
  console.log(`${path}: ${written} records, ${(size / 1024).toFixed(0)} KiB; corrupted: ${badText}`);
}
