// Adversarial: corrupt and missing state on the host (issue 10, defects 9, 10 and 19).
// A journal write that failed half-way, damaged journal files, a lock whose info is damaged, and
// backups that pruning must not take from an undo that still needs them. Through the built CLI,
// against the local host with real sqlite3.
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget } from '../e2e/targets.js';

const MARKS = `name: marks
vars: { tag: a }
steps:
  - name: Mark GREEN
    action: shell
    env: green
    with:
      command: echo {{ vars.tag }} > MARK-{{ vars.tag }}
      undo: rm -f MARK-{{ vars.tag }}
`;

// A migration that adds a table, then a change after it: undoing the run restores the backup.
const MIGRATE = `name: mig
steps:
  - name: Back up BLUE
    action: backup
    env: blue
  - name: Migrate BLUE
    action: migrate
    env: blue
    with:
      command: sqlite3 database.db 'CREATE TABLE IF NOT EXISTS added_by_mig(x)' && echo no pending migrations
      lint: false
  - name: Mark GREEN
    action: shell
    env: green
    with:
      command: echo mig > MARK-mig
      undo: rm -f MARK-mig
`;

const BACKUP_ONLY = `name: bk
steps:
  - name: Back up BLUE
    action: backup
    env: blue
    with: { keep: 1 }
`;

describe('corrupt and missing state on the host', () => {
  let sb: Sandbox;
  const journal = () => join(sb.root, 'journal');
  const runDir = (id: string) => join(journal(), 'runs', id);
  const run = (args: string[]) => bg(args, { cwd: sb.root });
  const runId = (stdout: string) => /\(run (\S+)\)/.exec(stdout)?.[1] ?? '';
  const mark = (tag: string) => existsSync(join(sb.green.dir, `MARK-${tag}`));
  const tables = () => execFileSync('sqlite3', [sb.blue.db, "SELECT group_concat(name) FROM sqlite_master WHERE type='table'"], { encoding: 'utf8' });
  const noCrash = (r: { exitCode: number; stderr: string }) => {
    expect(r.stderr).not.toMatch(/internal error|TypeError|SyntaxError|at .*\.js:\d+/);
    expect(r.exitCode).not.toBe(70);
  };

  beforeAll(() => {
    sb = makeSandbox('bg-adv-corrupt-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'marks.yaml'), MARKS);
    writeFileSync(join(sb.root, 'mig.yaml'), MIGRATE);
    writeFileSync(join(sb.root, 'bk.yaml'), BACKUP_ONLY);
  });
  afterAll(() => sb.remove());
  beforeEach(() => {
    rmSync(journal(), { recursive: true, force: true });
    for (const f of readdirSync(sb.green.dir)) if (f.startsWith('MARK-')) rmSync(join(sb.green.dir, f));
  });

  it('defect 9: a run directory without run.json (a journal write that failed) blocks nothing and shows as "no journal"', async () => {
    const a = await run(['run', 'marks.yaml', '--host', 'box', '--var', 'tag=A']);
    expect(a.exitCode).toBe(0);
    // What a journal start that failed half-way leaves: the directory, meta.json, a partial run.json.tmp.
    const broken = '29991231T235959.999Z-dead';
    mkdirSync(runDir(broken), { recursive: true });
    writeFileSync(join(runDir(broken), 'meta.json'), readFileSync(join(runDir(runId(a.stdout)), 'meta.json')));
    writeFileSync(join(runDir(broken), 'run.json.tmp'), '{"version":1,"me');
    const history = await run(['history', '--host', 'box']);
    noCrash(history);
    expect(history.stdout).toMatch(new RegExp(`${broken} .*no journal \\(nothing ran\\)`));
    const dry = await run(['rollback', '--host', 'box', '--dry-run']);
    expect(dry.stdout).toContain(`undo run ${runId(a.stdout)}`);
    const named = await run(['rollback', '--host', 'box', '--run', broken]);
    expect(named.exitCode).toBe(0);
    expect(named.stdout).toMatch(/no journal .*changed nothing; nothing to undo/);
    const undo = await run(['rollback', '--host', 'box', '--run', runId(a.stdout)]);
    expect(undo.stderr).toBe('');
    expect(undo.exitCode).toBe(0);
    expect(mark('A')).toBe(false);
  });

  it('defect 19: truncated run.json, a `null` log line, a meta.json field of the wrong type: named, never a crash', async () => {
    const a = await run(['run', 'marks.yaml', '--host', 'box', '--var', 'tag=A']);
    const b = await run(['run', 'marks.yaml', '--host', 'box', '--var', 'tag=B']);
    const c = await run(['run', 'marks.yaml', '--host', 'box', '--var', 'tag=C']);
    const [idA, idB, idC] = [a, b, c].map((r) => runId(r.stdout));
    const runJson = join(runDir(idC!), 'run.json');
    writeFileSync(runJson, readFileSync(runJson, 'utf8').slice(0, 200));
    writeFileSync(join(runDir(idB!), 'log'), readFileSync(join(runDir(idB!), 'log'), 'utf8') + 'null\n');
    const meta = JSON.parse(readFileSync(join(runDir(idA!), 'meta.json'), 'utf8'));
    writeFileSync(join(runDir(idA!), 'meta.json'), JSON.stringify({ ...meta, playbook: 5, pid: 'x' }));

    const history = await run(['history', '--host', 'box']);
    noCrash(history);
    expect(history.exitCode).toBe(0);
    expect(history.stdout).toContain(`unreadable: box:${runDir(idA!)}/meta.json: playbook:`);
    expect(history.stdout).toContain(`unreadable: box:${runDir(idB!)}/log: line `);
    const status = await run(['status', '--host', 'box']);
    noCrash(status);
    expect(status.exitCode).toBe(0);

    // C's run.json is truncated: its rollback says what is wrong and what to do, and changes nothing.
    const rc = await run(['rollback', '--host', 'box']);
    noCrash(rc);
    expect(rc.exitCode).toBe(2);
    expect(rc.stderr).toContain(`box:${runDir(idC!)}/run.json: not valid JSON`);
    expect(rc.stderr).toMatch(/undoes nothing.*Repair the file/s);
    expect(mark('C')).toBe(true);
    // B's log has a `null` line.
    const rb = await run(['rollback', '--host', 'box', '--run', idB!, '--force']);
    noCrash(rb);
    expect(rb.exitCode).toBe(2);
    expect(rb.stderr).toContain(`box:${runDir(idB!)}/log: line `);
    expect(mark('B')).toBe(true);
    // A (damaged meta.json only: the rollback reads run.json) is refused while later damaged runs
    // may have built on it, and undone with --force.
    const ra = await run(['rollback', '--host', 'box', '--run', idA!]);
    expect(ra.exitCode).toBe(2);
    expect(ra.stderr).toMatch(/later runs built on it: .*journal damaged/);
    const forced = await run(['rollback', '--host', 'box', '--run', idA!, '--force']);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(mark('A')).toBe(false);
  });

  it('defect 19: a lock with damaged info says so; unlock needs --force', async () => {
    mkdirSync(join(journal(), 'lock'), { recursive: true });
    writeFileSync(join(journal(), 'lock', 'info.json'), '{"runId": 7, "pid": "me"}');
    const status = await run(['status', '--host', 'box']);
    noCrash(status);
    expect(status.stdout).toMatch(/lock: held by an unknown run \(the lock's info.json is damaged/);
    const r = await run(['run', 'marks.yaml', '--host', 'box']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('locked by another run: an unknown run');
    expect((await run(['unlock', '--host', 'box'])).exitCode).toBe(3);
    expect((await run(['unlock', '--host', 'box', '--force'])).exitCode).toBe(0);
    expect((await run(['run', 'marks.yaml', '--host', 'box'])).exitCode).toBe(0);
  });

  it('defect 19, property: random damage to journal files never crashes history, status or rollback', async () => {
    const a = await run(['run', 'marks.yaml', '--host', 'box', '--var', 'tag=P']);
    const dir = runDir(runId(a.stdout));
    const pristine = Object.fromEntries(['run.json', 'log', 'meta.json', 'seq'].map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
    const damage = fc.record({
      file: fc.constantFrom('run.json', 'log', 'meta.json', 'seq'),
      kind: fc.constantFrom('truncate', 'replace', 'append', 'empty'),
      at: fc.nat(),
      text: fc.oneof(fc.constantFrom('null', '{}', '[]', '"x"', '{"t":1}', '{"t":"x","event":"undone","step":"1"}', '\u0000', '\n\n', '-1', '99999999999999999999'), fc.string({ maxLength: 12 })),
    });
    await fc.assert(
      fc.asyncProperty(damage, async ({ file, kind, at, text }) => {
        for (const [f, body] of Object.entries(pristine)) writeFileSync(join(dir, f), body);
        const body = pristine[file]!;
        const i = at % (body.length + 1);
        const damaged = kind === 'truncate' ? body.slice(0, i) : kind === 'replace' ? body.slice(0, i) + text + body.slice(i + text.length) : kind === 'append' ? body + text + '\n' : '';
        writeFileSync(join(dir, file), damaged);
        for (const args of [['history', '--host', 'box'], ['status', '--host', 'box'], ['rollback', '--host', 'box', '--dry-run']]) {
          const r = await run(args);
          noCrash(r);
          expect([0, 2]).toContain(r.exitCode);
        }
      }),
      { numRuns: 8 },
    );
  });

  it('defect 10: pruning keeps a backup that a migrate not yet rolled back needs; rollback then restores it', async () => {
    const m = await run(['run', 'mig.yaml', '--host', 'box']);
    expect(m.exitCode, m.stderr).toBe(0);
    expect(tables()).toContain('added_by_mig');
    const idM = runId(m.stdout);
    // Two backup-only runs with keep: 1: the migrate run's backup is older than both.
    for (let i = 0; i < 2; i++) {
      const k = await run(['run', 'bk.yaml', '--host', 'box']);
      expect(k.exitCode, k.stderr).toBe(0);
    }
    const backups = () => readdirSync(join(sb.root, 'backups')).filter((f) => f.endsWith('.db'));
    expect(backups()).toContain(`blue-${idM}.db`);
    expect(backups().length).toBe(2); // the migrate run's (protected) and the newest; the middle one pruned

    const undo = await run(['rollback', '--host', 'box', '--run', idM, '--accept-data-loss']);
    expect(undo.stderr).toBe('');
    expect(undo.exitCode).toBe(0);
    expect(tables()).not.toContain('added_by_mig');
    // Undone: the backup is no longer protected, and the next run prunes it.
    expect((await run(['run', 'bk.yaml', '--host', 'box'])).exitCode).toBe(0);
    expect(backups()).not.toContain(`blue-${idM}.db`);
    expect(backups().length).toBe(1);
  });

  it('defect 10: a rollback whose backup is missing refuses before undoing anything (exit 4), never claims success', async () => {
    const m = await run(['run', 'mig.yaml', '--host', 'box']);
    expect(m.exitCode, m.stderr).toBe(0);
    const idM = runId(m.stdout);
    rmSync(join(sb.root, 'backups', `blue-${idM}.db`));
    const undo = await run(['rollback', '--host', 'box', '--accept-data-loss']);
    noCrash(undo);
    expect(undo.exitCode).toBe(4);
    expect(undo.stderr).toContain(`2. Migrate BLUE: ${join(sb.root, 'backups', `blue-${idM}.db`)}`);
    expect(undo.stderr).toContain('nothing was undone');
    // Step 3 (after the migrate) was not undone either: the host is exactly as the run left it.
    expect(mark('mig')).toBe(true);
    expect(tables()).toContain('added_by_mig');
    expect(existsSync(join(journal(), 'lock'))).toBe(false);
    const history = await run(['history', '--host', 'box']);
    expect(history.stdout).toMatch(new RegExp(`${idM} .* done`));
  });
});
