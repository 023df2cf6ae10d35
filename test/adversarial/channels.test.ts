// Adversarial: printed channels (defect 6 of issue 10). User values and host output are escaped for
// the channel they are printed on: terminal, GitHub workflow commands, Markdown, JSON. Through the
// built CLI on the `local` host.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { githubInert, markdownCell, multiLine, oneLine } from '../../src/cli/sanitize.js';

// Pieces that attack each channel; property tests join them at random with arbitrary text.
const HOSTILE = ['::', '::error::forged', '::add-mask::x', '::stop-commands::tok', '\n', '\r', '\r\n', '\x1b[31m', '\x1b]0;title\x07', '|', '`', '```', '<b>', '##[error]x', '%0A', '\u009b2J', '\u202e', '\t', ' ', 'a', '$(id)', "'", '"', '-'];
const hostile = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.join(''))
  // argv cannot carry NUL; `{{`/`}}` are the template class's (defect 26), not this one.
  .filter((s) => !s.includes('\0') && !s.includes('{') && !s.includes('}') && s.trim() !== '');

/** Lines a GitHub runner would take as workflow commands (it trims leading whitespace; `##[` anywhere). */
function commandLines(out: string): string[] {
  return out.split(/\r\n|\r|\n/).filter((l) => /^\s*::/.test(l) || l.includes('##['));
}
const OWN = /^(::group::|::endgroup::$|::error title=bg%3A )/;

describe('printed channels', () => {
  let sb: Sandbox;
  const run = (args: string[], env: Record<string, string | undefined> = {}) => bg(args, { cwd: sb.root, env });
  const github = (summary: string) => ({ GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });

  beforeAll(() => {
    sb = makeSandbox('bg-adv-channels-');
    mkdirSync(join(sb.root, 'playbooks'));
    writeFileSync(
      join(sb.root, 'hosts.yaml'),
      `hosts:\n  box:\n    local: true\n    envs:\n      blue: { dir: ${sb.blue.dir} }\n    journal: ${sb.root}/journal\n`,
    );
    // The value goes into a step name, a command (echoed to stdout and stderr) and a failure.
    writeFileSync(
      join(sb.root, 'playbooks', 'echo.yaml'),
      `name: echo
vars:
  x: plain
steps:
  - name: "Echo {{ vars.x }}"
    action: shell
    env: blue
    with:
      command: printf '%s\\n' {{ vars.x }}; printf '%s\\n' {{ vars.x }} >&2
      undo: "true"
  - name: "Fail {{ vars.x }}"
    action: shell
    env: blue
    with:
      command: printf '%s\\n' {{ vars.x }} >&2; exit 3
      mutates: false
`,
    );
  });
  afterAll(() => sb.remove());

  const checkRun = async (value: string) => {
    const summary = join(sb.root, `summary-${Math.random().toString(36).slice(2)}.md`);
    const r = await run(['run', 'echo', '--host', 'box', '--var', `x=${value}`], github(summary));
    expect(r.exitCode, r.stderr).toBe(1);
    // No forged workflow command on either stream: every `::` line is bg's own.
    expect(commandLines(r.stdout).filter((l) => !OWN.test(l))).toEqual([]);
    expect(commandLines(r.stderr)).toEqual([]);
    expect(r.stdout + r.stderr).not.toMatch(/[\x1b\x9b\u202e]/);
    // The annotation stays one line, and names the step.
    expect(r.stdout.split('\n').filter((l) => l.startsWith('::error ')).length).toBe(1);
    // Markdown: every row of the step table has exactly 3 columns (4 unescaped pipes), 2 steps.
    const md = readFileSync(summary, 'utf8');
    rmSync(summary);
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    expect(rows.length).toBe(3); // header + 2 steps
    for (const row of rows) expect(row.split('|').length - 1).toBe(4);
    for (const row of rows) expect(row).not.toMatch(/[<>`]/); // no HTML or code span of the user's
    expect(md).not.toMatch(/\x1b/);
    // The failure sits in a fence that nothing in it closes: the only fence lines are the two of bg.
    const fences = md.split('\n').filter((l) => /^`{3,}/.test(l));
    expect(fences.length).toBe(2);
    return r;
  };

  it('6: a newline, workflow commands and ESC in a --var value forge nothing in the GitHub log, the summary or the terminal', async () => {
    const value = 'v\n::error::injected\n::add-mask::foo\n::stop-commands::tok\n##[warning]legacy|col\x1b[31mred\r::notice::cr';
    const r = await checkRun(value);
    expect(r.stdout).toContain('::group::box · 1. Echo v\\n::error::injected'); // visible, in the title
    expect(r.stdout).toContain('  | ::error::injected'); // output lines behind a prefix
    // `bg plan` on a terminal-like channel: ESC shown, not sent; the name on one line.
    const plan = await run(['plan', 'echo', '--host', 'box', '--var', `x=${value}`]);
    expect(plan.exitCode).toBe(0);
    expect(plan.stdout).not.toContain('\x1b');
    expect(plan.stdout).toContain('\\x1b[31m');
    expect(plan.stdout).toMatch(/^1\. Echo v\\n::error::injected.*\[shell, blue, changes state\]$/m);
    // JSON keeps the exact value.
    const json = await run(['plan', 'echo', '--host', 'box', '--var', `x=${value}`, '--json']);
    expect(JSON.parse(json.stdout)[0].vars.x).toBe(value);
    // `bg plan` in GitHub Actions: the command text is data too.
    const ghPlan = await run(['plan', 'echo', '--host', 'box', '--var', `x=${value}`], { GITHUB_ACTIONS: 'true' });
    expect(commandLines(ghPlan.stdout)).toEqual([]);
  });

  it('6: errors and history show host-written text escaped', async () => {
    // A hostile journal: meta.json's playbook and user carry escapes and forged lines.
    const r = await run(['run', 'echo', '--host', 'box']);
    expect(r.exitCode).toBe(1);
    const runs = join(sb.root, 'journal', 'runs');
    const id = readdirSync(runs).sort().at(-1)!;
    const metaFile = join(runs, id, 'meta.json');
    const meta = JSON.parse(readFileSync(metaFile, 'utf8'));
    writeFileSync(metaFile, JSON.stringify({ ...meta, playbook: 'p\x1b[2J\n::error::from-host', user: 'u\r::warning::x' }));
    for (const env of [{}, { GITHUB_ACTIONS: 'true' }]) {
      const h = await run(['history', '--host', 'box'], env);
      expect(h.stdout).not.toMatch(/\x1b/);
      expect(commandLines(h.stdout + h.stderr)).toEqual([]);
      if (h.exitCode === 0) expect(h.stdout).toContain('p\\x1b[2J\\n::error::from-host');
    }
  });

  it('property: random hostile --var values through bg plan (text, GitHub, JSON)', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (value) => {
        const plan = await run(['plan', 'echo', '--host', 'box', '--var', `x=${value}`], { GITHUB_ACTIONS: 'true' });
        expect(plan.exitCode, plan.stderr).toBe(0);
        expect(commandLines(plan.stdout + plan.stderr)).toEqual([]);
        expect(plan.stdout).not.toMatch(/[\x1b\x9b\u202e\r]/);
        const json = await run(['plan', 'echo', '--host', 'box', '--var', `x=${value}`, '--json']);
        expect(JSON.parse(json.stdout)[0].vars.x).toBe(value);
      }),
      { numRuns: 6 },
    );
  });

  it('property: random hostile --var values and step names through bg run in GitHub Actions', async () => {
    await fc.assert(fc.asyncProperty(hostile, async (value) => void (await checkRun(value))), { numRuns: 5 });
  });

  it('property (pure): the escapes leave no control character, line break or command behind', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(oneLine(s)).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
        expect(multiLine(s)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
        expect(markdownCell(s)).not.toMatch(/[|<>`\n\r]/);
        for (const line of multiLine(s).split('\n')) expect(commandLines(githubInert(line))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
