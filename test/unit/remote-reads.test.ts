// The read-only host calls of bg's commands (status, logs, backups, restore, history, rollback,
// unlock): each builder gives a short call of a library function with quoted arguments (exact
// equality), and each function (src/remote/framed.sh, runs.sh, status.sh, logs.sh, backup.sh,
// restore.sh) is run through a real dash with odd values: paths starting with `-`, holding
// newlines, quotes and `$(…)`.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { listBackupsCommand, parseBackups } from '../../src/cli/commands/backups.js';
import { discardsCommand } from '../../src/cli/commands/restore.js';
import { resolveHost, type ResolvedEnv } from '../../src/plan/host-model.js';
import { logPathsCommand, pollCommand, tailCommand } from '../../src/plan/logs-sh.js';
import { quotePath } from '../../src/plan/quote.js';
import { envStatusCommand } from '../../src/plan/status-sh.js';
import type { PlanStep } from '../../src/plan/types.js';
import { framedCommand, parseFramed } from '../../src/run/framed-read.js';
import { listRuns, readRuns, readSummaries } from '../../src/run/journal-reader.js';
import { liveSessionsCommand } from '../../src/run/sessions.js';
import { undoBackupsCommand } from '../../src/run/undo-needs.js';
import { ScriptedTransport } from '../harness/scripted-transport.js';
import { libraryFile } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const tmp = mkdtempSync(join(tmpdir(), 'bg-remote-reads-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** dash with the library sourced, as a host runs a command, in `tmp`. */
const dash = (cmd: string, o: { env?: Record<string, string>; stdin?: string } = {}) => {
  const r = spawnSync('dash', ['-c', `. '${libraryFile()}'; ${cmd}`], { encoding: 'utf8', cwd: tmp, input: o.stdin, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, ...o.env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};
const B = 'bg-0123456789abcdef0123456789abcdef';
/** A file name the way a host may have it: a newline, quotes, `$(…)`, a leading `-`. */
const ODD = "-odd 'q' \"d\" $(touch PWNED)\nx";
const step = (index: number) => ({ index }) as PlanStep;

describe('the calls, as built', () => {
  it('framed reads: the reader function and its quoted arguments behind the boundary', async () => {
    expect(framedCommand(B, 'bg_read_files', quotePath('/j x'), 'R1/log')).toBe(`bg_framed ${B} bg_read_files '/j x' R1/log`);
    const t = new ScriptedTransport();
    const sent = () => t.commands.at(-1)!.command.replace(/bg-[0-9a-f]{32}/, 'B');
    await listRuns(t, "/srv/bg's journal").catch(() => undefined);
    expect(sent()).toBe(`bg_framed B bg_runs_list '/srv/bg'\\''s journal/runs' seq run.json`);
    const id = '20260101T000000.000Z-beef';
    await readSummaries(t, '-j', [{ id, hasJournal: true }, { id: 'not a run', hasJournal: true }]).catch(() => undefined);
    expect(sent()).toBe(`bg_framed B bg_read_files ./-j/runs ${id}/meta.json ${id}/log`);
    await readRuns(t, '~/.bg', [id]).catch(() => undefined);
    expect(sent()).toBe(`bg_framed B bg_read_files "$HOME"/.bg/runs ${id}/run.json ${id}/log`);
  });

  it('sessions, undo backups, status, logs, backups, discards', () => {
    expect(liveSessionsCommand("/j/runs/R'1")).toBe(`bg_live_sessions '/j/runs/R'\\''1/sessions'`);
    expect(undoBackupsCommand('/j/runs/R1', [step(2), step(5)])).toBe('bg_undo_missing /j/runs/R1/steps backup 2 5');
    const env: ResolvedEnv = { name: 'blue', dir: '~/app', envFile: '~/app/.env' };
    expect(envStatusCommand(env, '')).toBe(`bg_env_status "$HOME"/app '' '' ''`);
    expect(envStatusCommand({ ...env, db: '-x.db', app: "it's", health: 'http://h/$(x)' }, 'export A=1; ')).toBe(`export A=1; bg_env_status "$HOME"/app ./-x.db 'it'\\''s' 'http://h/$(x)'`);
    expect(logPathsCommand('-app $(x)')).toBe(`bg_log_paths '-app $(x)'`);
    expect(tailCommand('/l/out 1.log', 15, 65536)).toBe(`bg_log_tail '/l/out 1.log' 15 65536`);
    expect(pollCommand('-x.log', 120, 1048576)).toBe('bg_log_poll ./-x.log 120 1048576');
    const host = resolveHost('box', { local: true, journal: '/j', backups: { dir: '/b k', keep: 5 }, environment: { A: '1' }, path: [], envs: { blue: { dir: '/a', db: 'a.db', env_file: '.env' }, web: { dir: '/w', env_file: '.env' } } } as never);
    expect(listBackupsCommand(host)).toBe(`export A=1; bg_backups_list '/b k' '^(blue)-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]+((\\.[a-z][a-z0-9_]{0,31})?\\.db|\\.pgdump)$'`);
    expect(discardsCommand('/a/a.db', '/b k/blue-1.db')).toBe(`bg_restore_discards /a/a.db '/b k/blue-1.db' migrations`);
  });
});

describe('framed reads through dash (bg_framed, bg_runs_list, bg_read_files)', () => {
  it('any file content comes back whole, also one holding a forged record; missing and odd names are records too (property)', () => {
    let n = 0;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => !s.includes('\0') && Buffer.from(s).toString() === s), (content) => {
        const dir = join(tmp, `framed ${n++}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'a'), `${content}\n${B.slice(0, 10)} fake +\n`);
        const r = dash(`${framedCommand(B, 'bg_read_files', quotePath(dir), 'a', 'missing')}; pwd`);
        expect(r.code, r.stderr).toBe(0);
        // The reader ran in a subshell: the caller's directory is unchanged.
        expect(r.stdout.endsWith(`\n${B} .\n${tmp}\n`)).toBe(true);
        const records = parseFramed(r.stdout.slice(0, -(tmp.length + 1)), B);
        expect(records).toEqual([
          { key: 'a', state: 'present', content: `${content}\n${B.slice(0, 10)} fake +\n` },
          { key: 'missing', state: 'missing', content: '' },
        ]);
      }),
      { numRuns: 30 },
    );
  });

  it('bg_runs_list: seq and run.json of each run directory; names that are not run ids are skipped; no runs directory is no records', () => {
    const runs = join(tmp, '-runs');
    for (const d of ['20260101T000000.000Z-beef', '20260102T000000.000Z-cafe', ODD, 'x y']) mkdirSync(join(runs, d, 'steps'), { recursive: true });
    writeFileSync(join(runs, '20260101T000000.000Z-beef', 'seq'), '7\n');
    writeFileSync(join(runs, '20260101T000000.000Z-beef', 'run.json'), '{}');
    writeFileSync(join(runs, ODD, 'seq'), '1\n');
    writeFileSync(join(runs, 'plain-file'), '');
    const r = dash(framedCommand(B, 'bg_runs_list', quotePath('-runs'), 'seq', 'run.json'));
    expect(r.code, r.stderr).toBe(0);
    expect(parseFramed(r.stdout, B)).toEqual([
      { key: '20260101T000000.000Z-beef/seq', state: 'present', content: '7\n' },
      { key: '20260101T000000.000Z-beef/run.json', state: 'present', content: '' },
      { key: '20260102T000000.000Z-cafe/seq', state: 'missing', content: '' },
      { key: '20260102T000000.000Z-cafe/run.json', state: 'missing', content: '' },
    ]);
    expect(dash(framedCommand(B, 'bg_runs_list', quotePath(join(tmp, 'none')), 'seq', 'run.json')).stdout).toBe(`\n${B} .\n`);
    expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
  });

  it('an unreadable file is a record saying so (when not root)', () => {
    if (process.getuid?.() === 0) return;
    const dir = join(tmp, 'unreadable');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), 'secret');
    chmodSync(join(dir, 'f'), 0o000);
    expect(parseFramed(dash(framedCommand(B, 'bg_read_files', quotePath(dir), 'f')).stdout, B)).toEqual([{ key: 'f', state: 'unreadable', content: '' }]);
  });
});

describe('what a run left (bg_live_sessions, bg_undo_missing) through dash', () => {
  it('bg_live_sessions lists a recorded shell that still runs (same start time), never a reused pid or a line that is not two numbers', async () => {
    const child = spawn('setsid', ['sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = child.pid!;
      const start = readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[21];
      const dir = join(tmp, 'sessions run');
      mkdirSync(dir);
      writeFileSync(join(dir, 'sessions'), `${pid} ${start}\n${pid} 1\n$(touch PWNED) 1\n1; touch PWNED\n../../x 5\n`);
      const r = dash(liveSessionsCommand(dir));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^\\s*${pid} sleep 30\\n$`));
      writeFileSync(join(dir, 'sessions'), `${pid} 1\n`);
      expect(dash(liveSessionsCommand(dir))).toMatchObject({ code: 0, stdout: '' });
      expect(dash(liveSessionsCommand(join(tmp, 'no run')))).toMatchObject({ code: 0, stdout: '' });
      expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
    } finally {
      child.kill();
    }
  });

  it('bg_undo_missing names each step whose recorded backup is gone, with any path', () => {
    const run = join(tmp, '-undo run');
    const gone = join(tmp, `gone ${ODD.replace('\n', ' ')}.db`);
    const there = join(tmp, 'there.db');
    writeFileSync(there, '');
    for (const [n, rec] of [[1, there], [2, gone], [4, '']] as const) {
      mkdirSync(join(run, 'steps', String(n)), { recursive: true });
      writeFileSync(join(run, 'steps', String(n), 'backup'), `${rec}\n`);
    }
    const r = dash(undoBackupsCommand('-undo run', [step(1), step(2), step(3), step(4)]));
    expect(r).toMatchObject({ code: 0, stdout: `2 ${gone}\n` });
    expect(dash(undoBackupsCommand(join(tmp, 'no run'), [step(1)]))).toMatchObject({ code: 0, stdout: '' });
    // A backups directory with a newline in its name: the whole record is the path, not its first line.
    const nl = join(tmp, 'back\nups');
    mkdirSync(nl, { recursive: true });
    writeFileSync(join(nl, 'blue-1.db'), '');
    writeFileSync(join(run, 'steps', '1', 'backup'), `${join(nl, 'blue-1.db')}\n`);
    expect(dash(undoBackupsCommand('-undo run', [step(1)]))).toMatchObject({ code: 0, stdout: '' });
    rmSync(join(nl, 'blue-1.db'));
    expect(dash(undoBackupsCommand('-undo run', [step(1)]))).toMatchObject({ code: 0, stdout: `1 ${join(nl, 'blue-1.db').replace('\n', ' ')}\n` });
  });
});

describe('bg_backup_prune through dash', () => {
  it('keeps a backup an undo not yet run restores, also when the backups directory holds a newline', () => {
    const dir = join(tmp, 'prune\nbackups');
    const runs = join(tmp, 'prune runs');
    mkdirSync(dir, { recursive: true });
    const ids = ['20260101T000001Z-a', '20260101T000002Z-b', '20260101T000003Z-c', '20260101T000004Z-d'];
    ids.forEach((id, i) => {
      writeFileSync(join(dir, `blue-${id}.db`), '');
      mkdirSync(join(runs, id), { recursive: true });
      writeFileSync(join(runs, id, 'seq'), `${i + 1}\n`);
      writeFileSync(join(runs, id, 'log'), '');
    });
    // The oldest run's migrate (step 3) is not undone: its backup must stay.
    mkdirSync(join(runs, ids[0]!, 'steps', '3'), { recursive: true });
    writeFileSync(join(runs, ids[0]!, 'steps', '3', 'backup'), `${join(dir, `blue-${ids[0]}.db`)}\n`);
    const r = dash(`bg_backup_prune ${quotePath(dir)} ${quotePath(runs)} blue blue-${ids[3]}.db 2 '^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z.*\\.db$'`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`kept ${dir}/blue-${ids[0]}.db: an undo not yet run restores it`);
    expect(existsSync(join(dir, `blue-${ids[0]}.db`))).toBe(true);
    expect(existsSync(join(dir, `blue-${ids[1]}.db`))).toBe(false);
    expect(existsSync(join(dir, `blue-${ids[2]}.db`))).toBe(true);
  });
});

describe('bg status (bg_env_status) through dash', () => {
  it('an env with only a directory: one line; a missing one says so', () => {
    expect(dash(envStatusCommand({ name: 'b', dir: tmp, envFile: '' }, ''))).toMatchObject({ code: 0, stdout: 'dir=ok\n' });
    expect(dash(envStatusCommand({ name: 'b', dir: join(tmp, ODD), envFile: '' }, ''))).toMatchObject({ code: 0, stdout: 'dir=missing\n' });
  });

  it('a database behind a link: sqlite3, link, real file, size, fingerprint and migrations; pm2 and health when they cannot answer', () => {
    const dir = join(tmp, 'status env');
    mkdirSync(dir);
    spawnSync('sqlite3', [join(dir, 'real.db'), "CREATE TABLE migrations(name TEXT); INSERT INTO migrations VALUES ('001.sql'), ('002.sql'); CREATE TABLE t(x);"]);
    symlinkSync('real.db', join(dir, '-app.db'));
    const env: ResolvedEnv = { name: 'b', dir, db: join(dir, '-app.db'), app: '-web $(touch PWNED)', health: 'http://127.0.0.1:1/', envFile: '' };
    const r = dash(envStatusCommand(env, `export PATH=${quotePath(join(tmp, 'no-pm2'))}:"$PATH"; `), { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('dir=ok');
    expect(lines[1]).toMatch(/^sqlite3=3\.\d+\.\d+ \(\/\S+\/sqlite3\)$/);
    expect(lines.slice(2, 5)).toEqual(['link=real.db', `real=${join(dir, 'real.db')}`, `size=${readFileSync(join(dir, 'real.db')).length}`]);
    expect(lines[5]).toMatch(/^fingerprint=sha256:[0-9a-f]{16}$/);
    expect(lines[6]).toBe('migrations=2');
    // No pm2, or no daemon for this HOME: the error's last line, not a crash.
    expect(lines[7]).toMatch(/^pm2_error=bg: pm2 (is not on PATH|daemon not running)/);
    expect(lines.slice(8)).toEqual(['health=000', '']);
    expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
  });

  it('a database that is not there', () => {
    const r = dash(envStatusCommand({ name: 'b', dir: tmp, db: join(tmp, 'none.db'), envFile: '' }, ''));
    expect(r.stdout.split('\n').slice(2)).toEqual(['db=missing', '']);
  });
});

describe('bg logs (bg_log_paths, bg_log_tail, bg_log_poll) through dash', () => {
  const log = join(tmp, ODD);

  it('bg_log_tail: the size, then the last lines as they were at that size, each cut at MAX_LINE bytes', () => {
    const text = `one\n${'x'.repeat(100)}\nthree $(touch PWNED)\n`;
    writeFileSync(log, text);
    expect(dash(tailCommand(ODD, 2, 10))).toMatchObject({ code: 0, stdout: `@@size ${text.length}\nxxxxxxxxxx\nthree $(to\n` });
    expect(dash(tailCommand(ODD, 0, 64))).toMatchObject({ code: 0, stdout: `@@size ${text.length}\n` });
    expect(dash(tailCommand('none.log', 5, 64))).toMatchObject({ code: 0, stdout: '@@size -1\n' });
    expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
  });

  it('bg_log_poll: what came after the offset; a rotated file from its start; a flood skipped down to MAX', () => {
    writeFileSync(log, 'a\n');
    expect(dash(pollCommand(ODD, 2, 100)).stdout).toBe('@@size 2 0 0\n@@end');
    appendFileSync(log, 'b\nc');
    expect(dash(pollCommand(ODD, 2, 100)).stdout).toBe('@@size 5 0 0\nb\nc@@end');
    truncateSync(log, 0);
    writeFileSync(log, 'new\n');
    expect(dash(pollCommand(ODD, 5, 100)).stdout).toBe('@@size 4 1 0\nnew\n@@end');
    appendFileSync(log, '0123456789');
    expect(dash(pollCommand(ODD, 4, 4)).stdout).toBe('@@size 14 0 6\n6789@@end');
    expect(dash(pollCommand('none.log', 4, 4)).stdout).toBe('@@size -1 0 0\n');
  });

  it('refuse numbers that are not numbers (they would be evaluated by the shell)', () => {
    expect(dash(`bg_log_poll x.log 'x[$(touch PWNED)]' 10`).code).toBe(2);
    expect(dash(`bg_log_tail x.log -1 10`).code).toBe(2);
    expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
  });

  it("bg_log_paths: the app's out and err files from pm2 jlist; an app pm2 does not know is exit 3 with a message", () => {
    const bin = join(tmp, 'pm2-bin');
    mkdirSync(bin);
    const list = [{ name: '-web $(x)', pid: 11, pm2_env: { status: 'online', restart_time: 0, pm_out_log_path: '/l/o 1.log', pm_err_log_path: '/l/e.log' } }, { name: 'other', pid: 12, pm2_env: { status: 'online', pm_out_log_path: '/l/x.log' } }];
    writeFileSync(join(bin, 'pm2'), `#!/bin/sh\necho '[PM2] a notice'\ncat <<'EOF'\n${JSON.stringify(list)}\nEOF\n`);
    chmodSync(join(bin, 'pm2'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}`, PM2_HOME: fakePm2Daemon(join(tmp, 'pm2')) };
    expect(dash(logPathsCommand('-web $(x)'), { env })).toMatchObject({ code: 0, stdout: '{"out":["/l/o 1.log"],"err":["/l/e.log"]}\n' });
    const r = dash(logPathsCommand('gone'), { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("bg: pm2 knows no app named gone (check PM2_HOME in the host's environment:)\n");
    expect(dash(logPathsCommand('web'), { env: { PM2_HOME: join(tmp, 'no-daemon'), PATH: env.PATH } }).code).toBe(3);
  });
});

describe('bg backups (bg_backups_list) and bg restore (bg_restore_discards) through dash', () => {
  const host = (dir: string) => resolveHost('box', { local: true, journal: '/j', backups: { dir, keep: 5 }, environment: {}, path: [], envs: { blue: { dir: tmp, db: 'blue.db', env_file: '.env' }, 'blue-2': { dir: tmp, db: 'b2.db', env_file: '.env' } } } as never);

  it("lists bg's own backups (plain files) with their counts and verification; nothing else in the directory", () => {
    const dir = join(tmp, '-backups dir');
    mkdirSync(dir);
    const a = 'blue-20260101T000000.000Z-beef.db';
    const b = 'blue-2-20260102T000000Z-cafe.db';
    writeFileSync(join(dir, a), 'x'.repeat(10));
    writeFileSync(join(dir, `${a}.counts`), 't|3\nodd "t" $(x)|4\n');
    writeFileSync(join(dir, `${a}.verified`), '2026-01-01T00:00:01Z ok\nignored\n');
    writeFileSync(join(dir, b), '');
    writeFileSync(join(dir, 'green-20260101T000000.000Z-beef.db'), '');
    symlinkSync('/etc/passwd', join(dir, 'blue-20260104T000000Z-1111.db'));
    const r = dash(listBackupsCommand(host('-backups dir')));
    expect(r.code, r.stderr).toBe(0);
    const [now, ...rest] = r.stdout.split('\n');
    expect(now).toMatch(/^@@now \d+$/);
    expect(rest.map((l) => l.replace(/ \d{9,}$/, ' T'))).toEqual([`@@file ${b} 0 T`, `@@file ${a} 10 T`, '@@count t|3', '@@count odd "t" $(x)|4', '@@verified 2026-01-01T00:00:01Z ok', '']);
    const parsed = parseBackups('box', host('-backups dir'), r.stdout);
    expect(parsed.map((e) => [e.env, e.run, e.size, e.rows, e.verified])).toEqual([
      ['blue-2', '20260102T000000Z-cafe', 0, null, null],
      ['blue', '20260101T000000.000Z-beef', 10, { t: 3, 'odd "t" $(x)': 4 }, { at: '2026-01-01T00:00:01Z', result: 'ok' }],
    ]);
    expect(dash(listBackupsCommand(host(join(tmp, 'none')))).stdout).toMatch(/^@@now \d+\n$/);
  });

  it('bg_restore_discards: the rows the backup lacks; 3 for no backup, 4 for a link, nothing when the database is gone', () => {
    const dir = join(tmp, 'discards');
    mkdirSync(dir);
    const db = join(dir, '-db $(x).db');
    const bak = join(dir, "bak 'q'.db");
    spawnSync('sqlite3', [bak, "CREATE TABLE migrations(name TEXT); CREATE TABLE t(x); INSERT INTO t VALUES (1); CREATE TABLE u(y);"]);
    spawnSync('sqlite3', [db, "CREATE TABLE migrations(name TEXT); INSERT INTO migrations VALUES ('002.sql'); CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3); CREATE TABLE u(y);"]);
    expect(dash(discardsCommand(db, bak))).toMatchObject({ code: 0, stdout: 'migrations 1 rows, t 2 rows' });
    expect(dash(discardsCommand(db, db))).toMatchObject({ code: 0, stdout: '' });
    expect(dash(discardsCommand(db, join(dir, 'none.db'))).code).toBe(3);
    symlinkSync(bak, join(dir, 'link.db'));
    expect(dash(discardsCommand(db, join(dir, 'link.db'))).code).toBe(4);
    expect(dash(discardsCommand(join(dir, 'gone.db'), bak))).toMatchObject({ code: 0, stdout: '' });
    expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
  });
});
