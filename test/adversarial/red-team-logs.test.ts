// Red team: bg logs against a hostile app's output, with a real pm2 daemon (its own PM2_HOME)
// running a tiny app on the local host. The app's log holds escape sequences, workflow commands,
// invalid UTF-8 and one giant line without a newline for a while (an app dumping a blob).
import { execa } from 'execa';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';

const PM2_BIN_DIR = fileURLToPath(new URL('../../examples/app/node_modules/.bin', import.meta.url));
const APP = 'red-team-app';
// Terminal controls that must never reach the terminal raw.
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('bg logs against a hostile app (local host, real pm2)', () => {
  let root = '';
  let outLog = '';
  const pm2 = (args: string[]) => execa(join(PM2_BIN_DIR, 'pm2'), args, { env: { PM2_HOME: join(root, '.pm2') }, reject: false, timeout: 60_000 });
  const run = (args: string[], env: Record<string, string> = {}) => bg(['logs', '--host', 'box', ...args], { cwd: root, env, timeoutMs: 60_000 });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bg-red-logs-'));
    writeFileSync(join(root, 'app.js'), 'setInterval(() => {}, 1e6);\n');
    const started = await pm2(['start', join(root, 'app.js'), '--name', APP]);
    expect(started.exitCode, started.stderr).toBe(0);
    const list = JSON.parse((await pm2(['jlist'])).stdout.split('\n').reverse().find((l) => l.startsWith('['))!) as Array<{ name: string; pm2_env: { pm_out_log_path: string } }>;
    outLog = list.find((p) => p.name === APP)!.pm2_env.pm_out_log_path;
    writeFileSync(
      join(root, 'hosts.yaml'),
      `hosts:\n  box:\n    local: true\n    path: [${PM2_BIN_DIR}]\n    environment: { PM2_HOME: ${join(root, '.pm2')} }\n    journal: ${join(root, 'journal')}\n    envs:\n      blue: { dir: ${root}, app: ${APP} }\n`,
    );
  }, 60_000);
  afterAll(async () => {
    if (root) await pm2(['kill']);
    if (root) rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('escape sequences, ::workflow commands:: and invalid UTF-8 arrive escaped (terminal, GitHub) and as data (--json)', async () => {
    appendFileSync(outLog, Buffer.concat([Buffer.from('::error::forged\n  ::add-mask::x\n\u001b]0;title\u0007 esc \u001b[2J\nbad '), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('##[error]legacy\n')]));
    const t = await run(['--lines', '5']);
    expect(t.exitCode, t.stderr).toBe(0);
    expect(t.stdout).not.toMatch(RAW_CONTROL);
    expect(t.stdout).toContain('\\x1b]0;title\\x07 esc \\x1b[2J');
    const gh = await run(['--lines', '5'], { GITHUB_ACTIONS: 'true' });
    expect(gh.exitCode, gh.stderr).toBe(0);
    // The runner runs `::cmd::` at a line's start (after blanks) and `##[cmd]` anywhere.
    expect(gh.stdout).not.toMatch(/^\s*::/m);
    expect(gh.stdout).not.toContain('##[');
    const j = await run(['--lines', '5', '--json']);
    const lines = j.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { line: string }).line);
    expect(lines).toEqual(['::error::forged', '  ::add-mask::x', '\u001b]0;title\u0007 esc \u001b[2J', 'bad \ufffd\ufffd', '##[error]legacy']);
  });

  it('one giant line (64 MiB, no newline for a while) is cut at 64 KiB on the host: the lines after it still show (exit 0)', async () => {
    appendFileSync(outLog, `${'a'.repeat(64 * 1024 * 1024)}\nafter the blob\n`);
    const t0 = Date.now();
    const j = await run(['--lines', '3', '--json']);
    expect(j.exitCode, j.stderr.slice(0, 500)).toBe(0);
    const lines = j.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { line: string }).line);
    expect(lines.at(-1)).toBe('after the blob');
    expect(lines.at(-2)).toBe('a'.repeat(64 * 1024));
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it('--lines out of range and an unknown or prototype env are bad input (exit 2)', async () => {
    for (const args of [['--lines', '-1'], ['--lines', '1e9'], ['--lines', 'abc'], ['--env', '__proto__'], ['--env', 'constructor'], ['--env=-x']]) {
      const r = await run(args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe('');
    }
  });
});
