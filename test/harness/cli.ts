import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

export const BG = fileURLToPath(new URL('../../bin/bg.js', import.meta.url));

export interface BgResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user would (node bin/bg.js), never throwing on a non-zero exit. */
export async function bg(args: string[], opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<BgResult> {
  const r = await execa('node', [BG, ...args], {
    cwd: opts.cwd,
    env: { CI: 'true', NO_COLOR: '1', ...opts.env },
    reject: false,
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
