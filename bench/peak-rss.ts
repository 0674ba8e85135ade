/**
 * Preloaded into every Tributary child the benchmark starts (`node --import ./bench/peak-rss.ts`):
 * at exit it writes the process's peak resident set size, in KiB, to $BENCH_PEAK_RSS_FILE.
 * getrusage's ru_maxrss is the kernel's high-water mark for the whole process (V8 heap, native
 * buffers, SQLite and pg memory alike), the same number `/usr/bin/time -f %M` prints.
 * A file, not stderr, so it cannot mix with the CLI's own output.
 */
import { writeFileSync } from 'node:fs';

const target = process.env.BENCH_PEAK_RSS_FILE;
if (target) {
  process.on('exit', () => {
    writeFileSync(target, String(process.resourceUsage().maxRSS));
  });
}
