import { spawn } from 'node:child_process';

export interface SpawnResult {
  code: number | null;
  seconds: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and measures its wall time from spawn to exit: what a user
 * waits for, process start-up included, the same way for the limits and for Tributary.
 */
export function timedSpawn(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        code,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    if (child.stdin) {
      // A child may exit without reading all its input; its exit code tells what happened.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}

/** Throws with the command's stderr when it failed. */
export function check(result: SpawnResult, what: string): SpawnResult {
  if (result.code !== 0)
    throw new Error(`${what} exited with ${result.code}: ${result.stderr.trim().slice(-2000)}`);
  return result;
}
