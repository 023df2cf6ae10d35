import { execa } from 'execa';
import { mkdirSync, writeFileSync } from 'node:fs';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Wall time of a command in ms. Asynchronous on purpose: a test sshd logs to a pipe this
 * process reads, and a blocked event loop would stall its handshakes.
 */
export async function timeCommand(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const t = performance.now();
  await execa(cmd, args, { stdio: 'ignore', ...opts });
  return performance.now() - t;
}

export async function times(n: number, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

/** Print a result and keep it under bench/results/ (git-ignored) for the README table. */
export function report(name: string, figures: Record<string, unknown>): void {
  console.log(`\n[bench] ${name}\n${JSON.stringify(figures, null, 2)}`);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL(`./results/${name}.json`, import.meta.url), JSON.stringify({ at: new Date().toISOString(), ...figures }, null, 2) + '\n');
}
