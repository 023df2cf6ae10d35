import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { dotenvLine } from '../../src/plan/actions/env-set.js';
import { oneStep, plan, problems, runStep, sh, undoStep } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A local host whose env `blue` lives in a fresh temp dir (no pm2 app: nothing is restarted). */
function local(dotenv?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'bg-envset-'));
  dirs.push(dir);
  if (dotenv !== undefined) writeFileSync(join(dir, '.env'), dotenv);
  const inventory = `hosts:\n  box:\n    local: true\n    journal: ${dir}/journal\n    envs:\n      blue: { dir: "${dir}" }\n`;
  const step = (key: string, value: string) =>
    plan(oneStep('env-set', `env: blue\nwith: { key: "{{ vars.k }}", value: "{{ vars.v }}" }`), { host: 'box', inventory, vars: { k: key, v: value } }).steps[0]!;
  return { dir, file: join(dir, '.env'), step };
}

describe('dotenvLine', () => {
  it.each([
    ['https://a.example,https://b.example', 'K=https://a.example,https://b.example'],
    ['', 'K='],
    ['two words', "K='two words'"],
    ['x; rm -rf / #', "K='x; rm -rf / #'"],
    ['$HOME and `id`', "K='$HOME and `id`'"],
    ['"quoted"', `K='"quoted"'`],
    ["it's", `K="it's"`],
  ])('writes %j as %s', (value, line) => expect(dotenvLine('K', value)).toBe(line));

  it('refuses what no dotenv parser reads back the same', () => {
    expect(() => dotenvLine('K', 'a\nb')).toThrow(/one line/);
    expect(() => dotenvLine('K', `it's "x"`)).toThrow(/cannot hold both/);
    expect(() => dotenvLine('K', "it's $HOME")).toThrow(/cannot hold both/);
    expect(() => dotenvLine('K', 'a b\\')).toThrow(/cannot end with/);
  });
});

describe('env-set plan', () => {
  it("edits the env's .env with awk, the line quoted for sh, and saves the previous lines for undo", () => {
    const s = plan(oneStep('env-set', 'env: blue\nwith: { key: ALLOWED_ORIGINS, value: "x\'; rm -rf / #" }')).steps[0]!;
    expect(s).toMatchObject({ action: 'env-set', env: 'blue', mutates: true });
    // Calls of the remote library (src/remote/envfile.sh), every value one quoted word.
    const sd = '"$HOME"/.bg/runs/20261121T120000Z-abcd/steps/1';
    const file = '/home/ubuntu/TimeTracking-BLUE/server/.env';
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_env_capture ${sd} ${file} ALLOWED_ORIGINS timetracking-server`]);
    expect(s.run.map((c) => c.cmd)).toEqual([`bg_env_set ${sd} ${file} ALLOWED_ORIGINS 'ALLOWED_ORIGINS="x'\\''; rm -rf / #"'`]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_env_check ${file} ALLOWED_ORIGINS 'ALLOWED_ORIGINS="x'\\''; rm -rf / #"'`]);
    // With the app: undo restarts it (--update-env) if it was restarted after the set.
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_env_undo ${sd} ${file} ALLOWED_ORIGINS timetracking-server`]);
  });

  it('reports bad keys, values and missing fields where they are', () => {
    expect(problems(oneStep('env-set', 'env: blue\nwith: { key: "A B", value: x }'))).toEqual([expect.stringMatching(/with\.key: a variable name/)]);
    expect(problems(oneStep('env-set', 'env: blue\nwith: { key: A, value: "{{ vars.v }}" }'), { vars: { v: 'a\nb' } })).toEqual([expect.stringMatching(/with\.value: a \.env value must be one line/)]);
    expect(problems(oneStep('env-set', 'env: blue\nwith: { key: A }'))).toEqual([expect.stringMatching(/with\.value: `with\.value` is required/)]);
    expect(problems(oneStep('env-set', 'with: { key: A, value: b }'))).toEqual([expect.stringMatching(/action `env-set` needs `env:`/)]);
  });
});

describe('env-set through a real sh', () => {
  const hostile = ['https://a.example,https://b.example', 'x; rm -rf / #', "it's", '$(touch /tmp/bg-pwned) `id`', '"x"', ''];
  it.each(hostile)('sets %j so that it reads back, and undo restores the file byte for byte', (value) => {
    const original = '# app config\nPORT=3000\nexport ALLOWED_ORIGINS=old\nAPP_ENV=blue\n';
    const { file, step: make } = local(original);
    const step = make('ALLOWED_ORIGINS', value);
    expect(runStep(step)).toMatchObject({ code: 0 });
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n').filter((l) => l.includes('ALLOWED_ORIGINS'))).toEqual([dotenvLine('ALLOWED_ORIGINS', value)]);
    expect(text.startsWith('# app config\nPORT=3000\n')).toBe(true);
    // What a POSIX shell (and dotenv) reads back from the line.
    expect(sh(`set -a; . ${file}; printf '%s' "$ALLOWED_ORIGINS"`).stdout).toBe(value);
    expect(undoStep(step).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(original);
    expect(existsSync('/tmp/bg-pwned')).toBe(false);
  });

  it('replaces every definition of the key by one line; undo puts the file back byte for byte', () => {
    const { file, step } = local('A=1\nB=2\n  export A = 3\n');
    const s = step('A', 'x');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(readFileSync(file, 'utf8')).toBe('A=x\nB=2\n');
    expect(undoStep(s).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('A=1\nB=2\n  export A = 3\n');
  });

  it('appends a missing key and removes it on undo', () => {
    const { file, step } = local('PORT=3000');
    expect(runStep(step('NEW_KEY', 'v'))).toMatchObject({ code: 0 });
    expect(readFileSync(file, 'utf8')).toBe('PORT=3000\nNEW_KEY=v\n');
    expect(undoStep(step('NEW_KEY', 'v')).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('PORT=3000');
  });

  it('creates a missing .env readable by its owner only, and removes it on undo', () => {
    const { file, step } = local();
    const s = step('SECRET', 's3cr3t');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(readFileSync(file, 'utf8')).toBe('SECRET=s3cr3t\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(undoStep(s).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('edits the file a symlinked .env points to, keeping the link', () => {
    const { dir, file, step } = local();
    writeFileSync(join(dir, 'shared.env'), 'A=1\n');
    symlinkSync(join(dir, 'shared.env'), file);
    const s = step('A', '2');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(readFileSync(join(dir, 'shared.env'), 'utf8')).toBe('A=2\n');
    expect(sh(`test -L ${file}`).code).toBe(0);
    expect(undoStep(s).code).toBe(0);
    expect(readFileSync(join(dir, 'shared.env'), 'utf8')).toBe('A=1\n');
  });

  it('undo restarts the app (--update-env) only if it was restarted after the line was set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-envset-'));
    dirs.push(dir);
    writeFileSync(join(dir, '.env'), 'A=1\n');
    const state = join(dir, 'pm2.json');
    writeFileSync(state, JSON.stringify([{ name: 'web', pid: 500, status: 'online', restarts: 0 }]));
    const fakePm2 = new URL('../fixtures/phases/fake-pm2', import.meta.url).pathname;
    const inventory = `hosts:\n  box:\n    local: true\n    journal: ${dir}/journal\n    path: [${fakePm2}]\n    environment: { FAKE_PM2_STATE: ${state}, PM2_HOME: ${fakePm2Daemon(dir)} }\n    envs:\n      blue: { dir: ${dir}, app: web }\n`;
    const p = plan(`name: t\nsteps:\n  - { name: set, action: env-set, env: blue, with: { key: A, value: "2" } }\n  - { name: restart, action: pm2, env: blue, with: { op: restart, update_env: true, stable_for: 0 } }\n`, { host: 'box', inventory });
    const pm2 = () => JSON.parse(readFileSync(state, 'utf8'))[0] as { pid: number; restarts: number };
    // Set, never restarted: undo leaves the app alone.
    expect(runStep(p.steps[0]!)).toMatchObject({ code: 0 });
    expect(undoStep(p.steps[0]!).stdout).not.toContain('restarted');
    expect(pm2().restarts).toBe(0);
    // Set, then restarted (the app runs with A=2): undo puts A=1 back and restarts it again.
    expect(runStep(p.steps[0]!)).toMatchObject({ code: 0 });
    expect(runStep(p.steps[1]!)).toMatchObject({ code: 0 });
    expect(pm2().restarts).toBe(1);
    // The rollback's order: the restart's undo (undoLast) comes after env-set's, which restarted
    // the app already, so it restarts nothing more.
    expect(p.steps[1]!.undoLast).toBe(true);
    const undo = undoStep(p.steps[0]!);
    expect(undo.stdout).toContain('restarted web (--update-env) so that it runs with the restored value');
    expect(pm2().restarts).toBe(2);
    const again = undoStep(p.steps[1]!);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('was restarted since this step: nothing to do');
    expect(pm2().restarts).toBe(2);
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe('A=1\n');
  });

  it('undo before the step ran does nothing', () => {
    const { file, step } = local('A=1\n');
    expect(undoStep(step('A', '2'))).toMatchObject({ code: 0, stdout: expect.stringContaining('nothing to undo') });
    expect(readFileSync(file, 'utf8')).toBe('A=1\n');
  });
});

describe('env-set undo is byte-exact', () => {
  it.each([
    ['no final newline', 'A=1\nK=old'],
    ['the key defined twice', 'K=first\n# note\nK=second\nB=2\n'],
    ['CRLF line ends', 'A=1\r\nK=old\r\n'],
  ])('when nothing else changed the file (%s)', (_what, original) => {
    const { file, step } = local(original);
    expect(runStep(step('K', 'new value')).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^K='new value'$/m);
    expect(undoStep(step('K', 'new value')).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('keeps the changes others made meanwhile, putting back only the old line', () => {
    const { file, step } = local('A=1\nK=old\n');
    expect(runStep(step('K', 'new')).code).toBe(0);
    writeFileSync(file, readFileSync(file, 'utf8') + 'C=3\n');
    expect(undoStep(step('K', 'new')).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('A=1\nK=old\nC=3\n');
  });
});

describe('env-set and multi-line dotenv values (issue 10, defect 12), through a real sh', () => {
  const cert = 'A=1\nCERT="-----BEGIN\nKEY=inside\n-----END"\nKEY=old\nB=\'x\nKEY=also inside\'\nC=`y\nKEY=in backquotes`\nD="not closed\nKEY=real\n';

  it('sets only the real KEY lines, lists them for undo, and undo restores the rest byte for byte', () => {
    const { file, step } = local(cert);
    const s = step('KEY', 'new');
    expect(runStep(s)).toMatchObject({ code: 0 });
    // `D="not closed` never closes: dotenv reads it as one line, so the KEY after it is real.
    expect(readFileSync(file, 'utf8')).toBe('A=1\nCERT="-----BEGIN\nKEY=inside\n-----END"\nKEY=new\nB=\'x\nKEY=also inside\'\nC=`y\nKEY=in backquotes`\nD="not closed\n');
    expect(parseEnv(readFileSync(file, 'utf8'))).toMatchObject({ KEY: 'new', CERT: '-----BEGIN\nKEY=inside\n-----END', B: 'x\nKEY=also inside' });
    writeFileSync(file, readFileSync(file, 'utf8') + 'E=later\n');
    expect(undoStep(s)).toMatchObject({ code: 0 });
    // The saved definitions go back together where the first one was (the file changed meanwhile).
    expect(readFileSync(file, 'utf8')).toBe('A=1\nCERT="-----BEGIN\nKEY=inside\n-----END"\nKEY=old\nKEY=real\nB=\'x\nKEY=also inside\'\nC=`y\nKEY=in backquotes`\nD="not closed\nE=later\n');
  });

  it('a value of KEY itself spanning lines is replaced whole', () => {
    const { file, step } = local('KEY="one\ntwo"\nZ=1\n');
    expect(runStep(step('KEY', 'x'))).toMatchObject({ code: 0 });
    expect(readFileSync(file, 'utf8')).toBe('KEY=x\nZ=1\n');
  });

  it('any value dotenvLine accepts reads back exactly (property, dotenv semantics of node:util parseEnv)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...`'"\\\`$&-=# {}x\t`.split(''), '$(id)', '\\&', '&&'), maxLength: 12 }), (v) => {
        try {
          dotenvLine('KEY', v);
        } catch {
          return; // refused at plan time
        }
        const { file, step } = local(cert);
        expect(runStep(step('KEY', v))).toMatchObject({ code: 0 });
        expect(parseEnv(readFileSync(file, 'utf8')).KEY).toBe(v);
      }),
      { numRuns: 40 },
    );
  });
});
