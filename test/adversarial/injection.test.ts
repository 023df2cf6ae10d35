// Argument and template injection (issue 10, defects 1, 2, 3, 12, 26 and their class), through the
// built CLI on the `local` host, with a real pm2 (its own PM2_HOME, started here) and real sqlite3.
// Every hostile value must arrive as data: a canary file the payloads try to write must never
// appear, also during the read-only `bg plan --check` and `bg status`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { checksumTree } from '../harness/sandbox.js';

const PM2 = fileURLToPath(new URL('../../examples/app/node_modules/.bin/pm2', import.meta.url));
let root = '';
let work = '';
let canary = '';
let pm2Home = '';
const env = () => ({ PM2_HOME: pm2Home });
const run = (...args: string[]) => bg(args, { cwd: work, env: env(), timeoutMs: 90_000 });
const pm2 = (...args: string[]) => execa(PM2, args, { env: { PM2_HOME: pm2Home }, reject: false });
const pm2Pids = async () => {
  const out = (await pm2('jlist')).stdout.split('\n').filter((l) => l.startsWith('['));
  return Object.fromEntries((JSON.parse(out.pop() ?? '[]') as Array<{ name: string; pid: number }>).map((p) => [p.name, p.pid]));
};
/** A payload for every interpreter: node (--eval / -e), sh ($( ), backquotes), all writing the canary. */
const nodeEval = () => `--eval=require("fs").writeFileSync(${JSON.stringify(canary)},"node")`;
const playbook = (name: string, yaml: string) => {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  return file;
};
const blueDir = () => join(root, 'blue');
const outside = () => join(root, 'outside');

beforeAll(async () => {
  // Short: pm2's socket path <root>/.pm2/rpc.sock must stay under ~100 characters.
  root = mkdtempSync(join(tmpdir(), 'bginj-'));
  work = join(root, 'work');
  pm2Home = join(root, '.pm2');
  canary = join(root, 'CANARY');
  for (const d of [work, blueDir(), join(root, 'green'), outside()]) mkdirSync(d, { recursive: true });
  for (const e of ['blue', 'green']) execFileSync('sqlite3', [join(root, e, 'database.db'), 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
  writeFileSync(join(root, 'app.js'), 'setInterval(() => {}, 1000);\n');
  const started = await pm2('start', join(root, 'app.js'), '--name', 'web');
  expect(started.exitCode, started.stderr).toBe(0);
  const host = (name: string, app: string, health = 'http://127.0.0.1:9/') =>
    `  ${name}:\n    local: true\n    path: [${join(PM2, '..')}]\n    environment: { PM2_HOME: ${pm2Home} }\n    journal: ${root}/journal\n    backups: { dir: ${root}/backups, keep: 5 }\n` +
    `    envs:\n      blue: { dir: ${blueDir()}, app: ${JSON.stringify(app)}, db: database.db, health: ${JSON.stringify(health)} }\n      green: { dir: ${root}/green, app: web, db: database.db }\n`;
  writeFileSync(
    join(work, 'hosts.yaml'),
    `hosts:\n${host('box', 'web')}${host('evil', nodeEval())}` +
      // Relative env dirs that start with `-`: every path reaches sqlite3, ln, mv … as a path.
      `  dash:\n    local: true\n    journal: ${root}/journal-dash\n    backups: { dir: -backups, keep: 5 }\n    envs:\n      blue: { dir: -blue, db: -blue.db }\n      green: { dir: --green, db: --cmd.db }\n`,
  );
}, 120_000);

afterAll(async () => {
  if (pm2Home) await pm2('kill');
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

beforeEach(() => expect(existsSync(canary), 'a payload ran in an earlier test').toBe(false));

describe('defect 1: a pm2 app name or JSON key starting with - is data for node, curl and pm2', () => {
  const pm2Step = () => playbook('pm', 'vars: { app: web }\nsteps:\n  - name: restart\n    action: pm2\n    env: blue\n    with: { app: "{{ vars.app }}", stable_for: 0 }\n');

  it('bg plan --check with app=--eval=… refuses it at plan time (file:line), nothing runs', async () => {
    const r = await run('plan', pm2Step(), '--host', 'box', '--check', '--var', `app=${nodeEval()}`);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/pm\.yaml:\d+:\d+: .*with\.app: pm2 app name .* starts with `-`/);
    expect(existsSync(canary)).toBe(false);
  });

  it('names pm2 would read as something else (all, an id, a file) are refused; a real name passes --check', async () => {
    const before = await pm2Pids();
    for (const app of ['all', '0', 'ecosystem.config.js'])
      expect((await run('run', pm2Step(), '--host', 'box', '--var', `app=${app}`)).exitCode, app).toBe(2);
    expect(await pm2Pids()).toEqual(before);
    const ok = await run('plan', pm2Step(), '--host', 'box', '--check', '--var', 'app=web');
    expect(ok.exitCode, ok.stderr).toBe(0);
  });

  it('bg status, plan --check and run with an inventory app --eval=…: node gets it as data', async () => {
    const st = await run('status', '--host', 'evil');
    expect(st.stdout + st.stderr).toContain(nodeEval());
    const check = await run('plan', playbook('health', 'steps:\n  - name: up\n    action: health\n    env: blue\n    with: { retries: 1 }\n'), '--host', 'evil', '--check');
    expect(check.exitCode).toBe(0);
    const up = await run('run', join(work, 'health.yaml'), '--host', 'evil');
    expect(up.exitCode).toBe(1);
    expect(existsSync(canary)).toBe(false);
  });

  it('a health JSON key --eval=… reaches node -e as an argument', async () => {
    const server = execa({ reject: false })('node', ['-e', 'require("http").createServer((q,s)=>s.end(JSON.stringify({status:"ok"}))).listen(0,"127.0.0.1",function(){console.log(this.address().port)})']);
    const port = await new Promise<string>((resolve) => server.stdout!.once('data', (d) => resolve(String(d).trim())));
    try {
      const file = playbook('json', `steps:\n  - name: up\n    action: health\n    with: { url: "http://127.0.0.1:${port}/", retries: 1, json: { ${JSON.stringify(nodeEval())}: x } }\n`);
      const r = await run('run', file, '--host', 'box');
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).toContain(`bg: ${nodeEval()} is undefined, expected "x"`);
      expect(existsSync(canary)).toBe(false);
    } finally {
      server.kill();
    }
  });
});

describe('defect 2: {{ }} inside "…" or \'…\' of a shell command stays literal', () => {
  const file = () =>
    playbook(
      'quotes',
      'vars: { x: plain }\nsteps:\n  - name: "write {{ vars.x }}"\n    action: shell\n    env: blue\n    with:\n' +
        `      command: printf '%s' '{{ vars.x }}' > out-single; printf '%s' "{{ vars.x }}" > out-double; printf '%s' "$(printf '%s' '{{ vars.x }}')" > out-nested; printf '%s' {{ vars.x }} > out-word\n` +
        `      verify: test "$(cat out-single; echo .)" = '{{ vars.x }}.'\n      undo: rm -f out-single out-double out-nested out-word\n`,
    );
  const hostile = ['$(touch CANARY)', "'; touch CANARY; '", '"; touch CANARY; "', '`touch CANARY`', "a\nb'c\"d\\e", '--x %s %n {{ y }} }}', '\\', "'"];

  it.each(hostile)('%j arrives byte for byte, in every quote context, through bg run', async (x) => {
    const value = x.replace(/CANARY/g, canary);
    const r = await run('run', file(), '--host', 'box', '--var', `x=${value}`);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const f of ['single', 'double', 'word']) expect(readFileSync(join(blueDir(), `out-${f}`), 'utf8')).toBe(value);
    expect(readFileSync(join(blueDir(), 'out-nested'), 'utf8')).toBe(value.replace(/\n+$/, ''));
    expect(existsSync(canary)).toBe(false);
  });

  it('random values (property): plan --check and run keep them literal', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: fc.constantFrom(...`'"\\\`$();|&<>{} \n-x`.split(''), '$(touch CANARY)', '{{'), minLength: 1, maxLength: 16 }), async (x) => {
        const value = x.replace(/CANARY/g, canary);
        expect((await run('plan', file(), '--host', 'box', '--check', '--var', `x=${value}`)).exitCode).toBe(0);
        const r = await run('run', file(), '--host', 'box', '--var', `x=${value}`);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(readFileSync(join(blueDir(), 'out-double'), 'utf8')).toBe(value);
        expect(existsSync(canary)).toBe(false);
      }),
      { numRuns: 2 },
    );
  });

  it('a context that cannot be quoted (backquotes, here-document) fails at plan time with file:line', async () => {
    const bad = playbook('bad', 'steps:\n  - name: x\n    action: shell\n    with:\n      command: "echo `echo {{ vars.x }}`"\nvars: { x: v }\n');
    const r = await run('plan', bad, '--host', 'box');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:6:\d+: steps\.0\.with\.command: .*inside backquotes/);
  });
});

describe('defect 3: a symlink target starting with - is a link text, and rollback restores exactly', () => {
  const target = () => `--target-directory=${outside()}`;
  const file = (fail: boolean) =>
    playbook(
      'link',
      `vars: { t: x }\nsteps:\n  - name: point\n    action: symlink\n    env: blue\n    with: { link: current, target: "{{ vars.t }}" }\n` +
        (fail ? '  - name: fails\n    action: shell\n    with: { command: "false", undo: "true" }\n' : ''),
    );
  const state = () => checksumTree(blueDir()) + checksumTree(outside());

  it('a failing run is rolled back to the very same files; nothing is written outside the env', async () => {
    writeFileSync(join(blueDir(), 'current'), 'a regular file\n');
    const before = state();
    const r = await run('run', file(true), '--host', 'box', '--var', `t=${target()}`);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(state()).toBe(before);
  });

  it('a successful run links to the literal text; bg rollback puts back what was there', async () => {
    const before = state();
    const r = await run('run', file(false), '--host', 'box', '--var', `t=${target()}`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readlinkSync(join(blueDir(), 'current'))).toBe(target());
    expect(readdirSync(outside())).toEqual([]);
    const again = await run('run', file(false), '--host', 'box', '--var', 't=-n');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(readlinkSync(join(blueDir(), 'current'))).toBe('-n');
    const runs = JSON.parse((await run('history', '--host', 'box', '--json')).stdout) as Array<{ run: string; playbook: string }>;
    const [second, first] = runs.filter((x) => x.playbook === 'link').map((x) => x.run).sort().reverse();
    const rb2 = await run('rollback', '--host', 'box', '--run', second!);
    expect(rb2.exitCode, rb2.stderr).toBe(0);
    expect(readlinkSync(join(blueDir(), 'current'))).toBe(target());
    const rb1 = await run('rollback', '--host', 'box', '--run', first!);
    expect(rb1.exitCode, rb1.stderr).toBe(0);
    expect(state()).toBe(before);
  });
});

describe('defect 12 and env-set values: multi-line quoted dotenv values, \\ & $ and -', () => {
  const envFile = () => join(blueDir(), '.env');
  const original = 'A=1\nCERT="-----BEGIN\nKEY=inside the cert\n-----END"\nKEY=old\nNOTE=\'x\nKEY=in single quotes\'\nZ=2\n';
  const file = (fail: boolean) =>
    playbook(
      'envset',
      `vars: { v: x }\nsteps:\n  - name: set\n    action: env-set\n    env: blue\n    with: { key: KEY, value: "{{ vars.v }}", restart_on_undo: false }\n` +
        (fail ? '  - name: fails\n    action: shell\n    with: { command: "false", undo: "true" }\n' : ''),
    );

  it('only the real KEY line is replaced; the values spanning lines stay whole; a failed run restores the bytes', async () => {
    writeFileSync(envFile(), original);
    const ok = await run('run', file(false), '--host', 'box', '--var', 'v=new');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(readFileSync(envFile(), 'utf8')).toBe(original.replace('KEY=old\n', 'KEY=new\n'));
    expect(parseEnv(readFileSync(envFile(), 'utf8'))).toMatchObject({ KEY: 'new', CERT: '-----BEGIN\nKEY=inside the cert\n-----END' });
    writeFileSync(envFile(), original);
    const failed = await run('run', file(true), '--host', 'box', '--var', 'v=new');
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(readFileSync(envFile(), 'utf8')).toBe(original);
  });

  it('rollback after another change of the file puts back only the KEY line', async () => {
    writeFileSync(envFile(), original);
    expect((await run('run', file(false), '--host', 'box', '--var', 'v=new')).exitCode).toBe(0);
    writeFileSync(envFile(), readFileSync(envFile(), 'utf8') + 'ADDED=later\n');
    const rb = await run('rollback', '--host', 'box');
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect(readFileSync(envFile(), 'utf8')).toBe(original + 'ADDED=later\n');
  });

  it.each(['a\\b', 'x&y&&z\\&', '$HOME${PATH}$(touch CANARY)', '-x', '--eval=1', "it's"])('value %j reads back exactly (dotenv semantics)', async (v) => {
    writeFileSync(envFile(), original);
    const value = v.replace(/CANARY/g, canary);
    const r = await run('run', file(false), '--host', 'box', '--var', `v=${value}`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(parseEnv(readFileSync(envFile(), 'utf8')).KEY).toBe(value);
    expect(existsSync(canary)).toBe(false);
  });

  it('a value with a newline is refused before anything runs (exit 2)', async () => {
    writeFileSync(envFile(), original);
    const r = await run('run', file(false), '--host', 'box', '--var', 'v=a\nb');
    expect(r.exitCode).toBe(2);
    expect(readFileSync(envFile(), 'utf8')).toBe(original);
  });
});

describe('defect 26: braces in a value are data', () => {
  it('a value holding {{ and }} is accepted in names, shell and raw fields', async () => {
    const file = playbook('braces', `vars: { x: v }\nsteps:\n  - name: "say {{ vars.x }}"\n    action: shell\n    env: blue\n    with: { command: "printf '%s' \\"{{ vars.x }}\\" > braces", mutates: false }\n`);
    const r = await run('run', file, '--host', 'box', '--var', 'x={{ vars.x }} }} {{');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(blueDir(), 'braces'), 'utf8')).toBe('{{ vars.x }} }} {{');
  });
});

describe('the class: paths that start with - reach sqlite3, ln, mv, cp as paths', () => {
  it('backup, schema-check and db-inspect of databases under relative dirs -blue and --green', async () => {
    for (const [d, db] of [['-blue', '-blue.db'], ['--green', '--cmd.db']]) {
      mkdirSync(join(work, d), { recursive: true });
      execFileSync('sqlite3', [join(work, d, db), 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
    }
    const file = playbook(
      'dash',
      'steps:\n  - name: backup\n    action: backup\n    envs: [blue, green]\n  - name: same\n    action: schema-check\n  - name: inspect\n    action: db-inspect\n',
    );
    expect((await run('plan', file, '--host', 'dash', '--check')).exitCode).toBe(0);
    const r = await run('run', file, '--host', 'dash');
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(execFileSync('ls', [join(work, '-backups')], { encoding: 'utf8' })).toMatch(/^blue-.*\.db$/m);
  });
});
