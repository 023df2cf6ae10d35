// The remote library (src/remote/*.sh): shellcheck-clean, every function commented, functions
// tested directly with a real sh (dash), and its installation on a host (temp + hash check + mv).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { installCommand, librarySourced, LIBRARY_MISSING, libraryPath } from '../../src/remote/assemble.js';
import { functionsUsed, library } from '../../src/remote/library.js';
import { quotePath, shellQuote } from '../../src/plan/quote.js';
import { libraryFile } from './actions-helpers.js';

const DIR = new URL('../../src/remote/', import.meta.url).pathname;
const files = readdirSync(DIR).filter((f) => f.endsWith('.sh'));
const tmp = mkdtempSync(join(tmpdir(), 'bg-remote-lib-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** dash with the library sourced, as a host runs a command. */
const dash = (cmd: string, stdin?: string) => {
  const r = spawnSync('dash', ['-c', `. '${libraryFile()}'; ${cmd}`], { encoding: 'utf8', input: stdin, cwd: tmp });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

describe('the remote library files', () => {
  it.each(files)('%s is shellcheck-clean as POSIX sh', (f) => {
    const r = spawnSync('shellcheck', ['-s', 'sh', '-f', 'gcc', join(DIR, f)], { encoding: 'utf8' });
    expect(r.error, 'shellcheck must be installed (test/global-setup installs it)').toBeUndefined();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every function has a one-line comment naming it, and is defined once', () => {
    const names: string[] = [];
    for (const f of files) {
      const lines = readFileSync(join(DIR, f), 'utf8').split('\n');
      lines.forEach((l, i) => {
        const m = /^(bg_[a-z0-9_]+)\(\) \{/.exec(l);
        if (!m) return;
        names.push(m[1]!);
        // The comment is the first line of the function's block (shellcheck directives and variables may follow it).
        let j = i - 1;
        while (j >= 0 && lines[j] !== '' && !lines[j]!.startsWith(`# ${m[1]}`)) j--;
        expect(lines[j], `${f}: ${m[1]} has no "# ${m[1]} …" comment`).toMatch(new RegExp(`^# ${m[1]}\\b`));
      });
    }
    expect(new Set(names).size).toBe(names.length);
    expect([...library().functions.keys()].filter((n) => n.startsWith('bg_')).sort()).toEqual([...names].sort());
  });

  it('the hash is the sha256 of the text installed, and functionsUsed follows calls inside functions', () => {
    const lib = library();
    expect(lib.hash).toBe(createHash('sha256').update(lib.text).digest('hex'));
    expect(functionsUsed(['bg_backup a b c']).map((f) => f.name)).toEqual(['bg_backup', 'bg_snapshot_copy', 'bg_counts_q', 'bg_sql', 'bg_dotq', 'bg_counts', 'bg_sqlq', 'bg_write_file']);
    expect(functionsUsed(['bg_env_check f K K=v']).map((f) => f.name)).toEqual(['bg_env_check', 'bg_env_real', 'bg_env_lines', 'BG_DOTENV_AWK', 'BG_DOTENV_LIST_AWK']);
  });
});

describe('library functions through dash', () => {
  it('bg_sql takes a database named like an option as a file; bg_sqlq and bg_dotq quote', () => {
    expect(dash(`bg_sql -odd.db "CREATE TABLE t(x); INSERT INTO t VALUES ($(bg_sqlq "it's"))" && bg_sql -odd.db 'SELECT x FROM t'`)).toMatchObject({ code: 0, stdout: "it's\n" });
    expect(existsSync(join(tmp, '-odd.db'))).toBe(true);
    expect(dash(`bg_dotq 'a "b" \\c'`).stdout).toBe('"a \\"b\\" \\\\c"');
  });

  it('bg_counts reads every table; bg_backup copies consistently and bg_backup_verify records ok', () => {
    execFileSync('sqlite3', [join(tmp, 'a.db'), 'CREATE TABLE "odd ""t"""(x); INSERT INTO "odd ""t""" VALUES (1),(2); CREATE TABLE u(y);']);
    expect(dash('bg_counts a.db').stdout).toBe('odd "t"|2\nu|0\n');
    expect(dash('bg_backup a.db bk bk/a-copy.db && bg_backup_verify a.db bk/a-copy.db')).toMatchObject({ code: 0, stdout: 'backed up a.db to bk/a-copy.db\n' });
    expect(readFileSync(join(tmp, 'bk/a-copy.db.verified'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ok\n$/);
  });

  it('.counts and .verified beside a backup replace a link there, never write through it (red team)', () => {
    execFileSync('sqlite3', [join(tmp, 'l.db'), 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
    mkdirSync(join(tmp, 'lk'), { recursive: true });
    writeFileSync(join(tmp, 'victim'), 'keep me\n');
    symlinkSync(join(tmp, 'victim'), join(tmp, 'lk/l-copy.db.counts'));
    symlinkSync(join(tmp, 'victim'), join(tmp, 'lk/l-copy.db.verified'));
    expect(dash('bg_backup l.db lk lk/l-copy.db && bg_backup_verify l.db lk/l-copy.db').code).toBe(0);
    expect(readFileSync(join(tmp, 'victim'), 'utf8')).toBe('keep me\n');
    expect(lstatSync(join(tmp, 'lk/l-copy.db.verified')).isFile()).toBe(true);
    expect(readFileSync(join(tmp, 'lk/l-copy.db.counts'), 'utf8')).toBe('t|1\n');
  });

  it('bg_link_switch and bg_link_undo take any target as data (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0')), (target) => {
        const d = mkdtempSync(join(tmp, 'link-'));
        const link = join(d, 'current');
        symlinkSync('previous', link);
        const sd = join(d, 'sd');
        const words = [quotePath(sd), quotePath(link), quotePath(`${link}.OLD`)];
        expect(dash(`bg_link_capture ${words.join(' ')}`).code).toBe(0);
        const r = dash(`bg_link_switch ${quotePath(link)} ${shellQuote(target)} ${quotePath(`${link}.OLD`)}`);
        expect(r.code, r.stderr).toBe(0);
        expect(readlinkSync(link)).toBe(target);
        expect(dash(`bg_link_check ${quotePath(sd)} ${quotePath(link)} ${shellQuote(target)} ${quotePath(`${link}.OLD`)}`).code).toBe(0);
        expect(dash(`bg_link_undo ${words.join(' ')}`).code).toBe(0);
        expect(readlinkSync(link)).toBe('previous');
      }),
      { numRuns: 25 },
    );
  });

  it('bg_envs keeps any database path and app name as data: db_of and app_of give them back (property)', () => {
    const value = fc.string({ minLength: 0, maxLength: 30 }).filter((v) => !v.includes('\0'));
    // The host sees a path starting with - as ./-… (quotePath); ~ paths are the host's $HOME, left out here.
    const path = value.filter((v) => v !== '~' && !v.startsWith('~/'));
    const seen = (p: string) => (p.startsWith('-') ? `./${p}` : p);
    fc.assert(
      fc.property(path, value, path, (db1, app1, db2) => {
        const args = ['blue', db1, app1, 'green-2', db2, ''].map((v, i) => (i % 3 === 1 ? quotePath(v) : shellQuote(v)));
        const r = dash(`bg_envs ${args.join(' ')}; printf '%s|' "$envs"; db_of blue; printf '|'; app_of blue; printf '|'; db_of green-2; printf '|'; app_of green-2; db_of purple || printf '|none'`);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(`blue green-2|${seen(db1)}|${app1}|${seen(db2)}||none`);
      }),
      { numRuns: 40 },
    );
  });

  it('bg_env_set writes a line holding shell syntax as data, and bg_env_check reads it back', () => {
    writeFileSync(join(tmp, '.env'), 'A=1\n');
    const line = shellQuote(`A='$(touch PWNED) \`id\`'`);
    expect(dash(`bg_env_capture sd .env A && bg_env_set sd .env A ${line} && bg_env_check .env A ${line}`).code).toBe(0);
    expect(readFileSync(join(tmp, '.env'), 'utf8')).toBe("A='$(touch PWNED) `id`'\n");
    expect(existsSync(join(tmp, 'PWNED'))).toBe(false);
    expect(dash('bg_env_undo sd .env A').code).toBe(0);
    expect(readFileSync(join(tmp, '.env'), 'utf8')).toBe('A=1\n');
  });
});

describe('installing the library on a host', () => {
  const lib = library();
  const journal = () => mkdtempSync(join(tmp, 'journal-'));

  it('a command finds no library: exit 125 with the marker, having run nothing', () => {
    const j = journal();
    const r = spawnSync('sh', ['-c', librarySourced(j, [lib.hash], 'touch ran')], { encoding: 'utf8', cwd: tmp });
    expect(r.status).toBe(125);
    expect(r.stderr).toContain(`${LIBRARY_MISSING} sha256:${lib.hash}`);
    expect(existsSync(join(tmp, 'ran'))).toBe(false);
  });

  it('installs under JOURNAL/lib/<sha256>.sh, checked by the host; then commands source it', () => {
    const j = journal();
    const r = spawnSync('sh', ['-c', installCommand(j, lib.hash)], { encoding: 'utf8', input: lib.text });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(libraryPath(j, lib.hash), 'utf8')).toBe(lib.text);
    expect(readdirSync(join(j, 'lib'))).toEqual([`${lib.hash}.sh`]);
    const c = spawnSync('sh', ['-c', librarySourced(j, [lib.hash], 'bg_sqlq "a\'b"')], { encoding: 'utf8' });
    expect(c.stdout).toBe("'a''b'");
  });

  it('refuses a library whose bytes do not match the hash, leaving nothing behind', () => {
    const j = journal();
    const r = spawnSync('sh', ['-c', installCommand(j, lib.hash)], { encoding: 'utf8', input: lib.text + '\n# tampered\n' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/arrived with sha256:[0-9a-f]{64}, not sha256:/);
    expect(readdirSync(join(j, 'lib'))).toEqual([]);
  });
});

describe('withLibrary on a host whose login shell prints on stderr', () => {
  it('installs the missing library and sends the command again, although noise comes before the marker (a .bashrc running pyenv)', async () => {
    const { withLibrary } = await import('../../src/remote/install.js');
    const { LocalTransport } = await import('../../src/transport/local.js');
    const local = new LocalTransport('box');
    // What root's .bashrc did on the CI host: a line on stderr before every command.
    const noisy = { ...local, host: 'box', kind: local.kind, connect: () => local.connect(), close: () => local.close(), exec: (cmd: string, o?: object) => local.exec(`echo "pyenv: cannot rehash" >&2; ${cmd}`, o) };
    const journal = mkdtempSync(join(tmp, 'noisy-'));
    const t = withLibrary(noisy, journal);
    const r = await t.exec('bg_sqlq "it\'s"');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("'it''s'");
    expect(existsSync(join(journal, 'lib', `${library().hash}.sh`))).toBe(true);
  });
});

describe('the journal layout in the shell files', () => {
  it('journal.sh and step.sh write the files journal-layout.ts names (run.json, meta.json, seq, log, sessions, out, runs)', async () => {
    const { RUN_FILES, JOURNAL_FILES } = await import('../../src/run/journal-layout.js');
    const journalSh = readFileSync(join(DIR, 'journal.sh'), 'utf8');
    const stepSh = readFileSync(join(DIR, 'step.sh'), 'utf8');
    for (const f of [RUN_FILES.run, RUN_FILES.meta, RUN_FILES.seq]) expect(journalSh).toContain(`"$1/${f}`);
    expect(journalSh).toContain(`/${JOURNAL_FILES.runs}/*/${RUN_FILES.seq}`);
    expect(journalSh).toContain(`"$bg_js_j/${JOURNAL_FILES.seq}"`);
    for (const f of [RUN_FILES.log, RUN_FILES.sessions, RUN_FILES.out]) expect(stepSh).toContain(`"$bg_st_dir/${f}`);
  });
});
