import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAnnotation, workspacePath, type Annotation } from '../../src/cli/github.js';
import { validateAnnotations } from '../../src/cli/commands/validate.js';
import { earlyOutputFlags } from '../../src/cli/options.js';
import { githubAnnotations, inGithubActions } from '../../src/cli/output.js';
import { multiLine, oneLine } from '../../src/cli/sanitize.js';
import { lintAnnotations, type LintReport } from '../../src/lint/format.js';

/** How the Actions runner reads a workflow command line (actions/runner ActionCommand.TryParseV2). */
function parseCommand(line: string): { command: string; props: Record<string, string>; data: string } | undefined {
  const m = /^::([^ :]+)( [^:]*)?::(.*)$/s.exec(line.trimStart());
  if (!m) return undefined;
  const unescapeData = (s: string) => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
  const unescapeProp = (s: string) => unescapeData(s.replace(/%3A/g, ':').replace(/%2C/g, ','));
  const props: Record<string, string> = {};
  for (const pair of (m[2] ?? '').trim().split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    props[pair.slice(0, i)] = unescapeProp(pair.slice(i + 1));
  }
  return { command: m[1]!, props, data: unescapeData(m[3]!) };
}

describe('GitHub annotations', () => {
  it('formats file, line, col and title, with the path relative to the workspace', () => {
    const a: Annotation = { level: 'error', file: '/ws/app/migrations/002.sql', line: 3, column: 7, title: 'bg lint: drop-column', message: 'drops x' };
    expect(formatAnnotation(a, '/ws/app')).toBe('::error file=migrations/002.sql,line=3,col=7,title=bg lint%3A drop-column::drops x');
    expect(formatAnnotation({ level: 'warning', message: 'just text' })).toBe('::warning::just text');
    // A column without a line means nothing to GitHub; a non-positive line is dropped.
    expect(formatAnnotation({ level: 'error', file: 'a.yaml', line: 0, column: 3, message: 'm' }, undefined)).toBe('::error file=a.yaml::m');
  });

  it('keeps paths outside the workspace as they are, and resolves relative ones against cwd', () => {
    expect(workspacePath('/elsewhere/x.sql', '/ws')).toBe('/elsewhere/x.sql');
    expect(workspacePath('m/x.sql', '/ws', '/ws/sub')).toBe('sub/m/x.sql');
    expect(workspacePath('../x.sql', '/ws', '/ws')).toBe('../x.sql');
    expect(workspacePath('x.sql', undefined)).toBe('x.sql');
  });

  it('no message, title or path can end the command early or forge another one', () => {
    const text = fc.string({ unit: fc.constantFrom('a', ':', ',', '=', '%', '\n', '\r', '::error::', '%0A', '\u001b', ' ', 'é', '##['), maxLength: 30 });
    fc.assert(
      fc.property(text, text, text, fc.nat(5000), fc.nat(300), (message, title, file, line, col) => {
        const out = formatAnnotation({ level: 'error', file: file || undefined, line, column: col, title: title || undefined, message }, undefined, '/');
        expect(out).not.toMatch(/[\r\n]/);
        const parsed = parseCommand(out)!;
        expect(parsed.command).toBe('error');
        // Exactly the properties bg set, each decoding to the value it meant (shown on one line).
        const [t, f] = [oneLine(title).trim(), oneLine(file).trim()];
        const keys = [f && 'file', line > 0 && 'line', line > 0 && col > 0 && 'col', t && 'title'].filter(Boolean);
        expect(Object.keys(parsed.props).sort()).toEqual((keys as string[]).sort());
        if (t) expect(parsed.props.title).toBe(t);
        if (f) expect(parsed.props.file).toBe(f);
        expect(parsed.data).toBe(multiLine(message));
      }),
      { numRuns: 300 },
    );
  });

  it('lint: breaking findings are errors, warnings warnings, accepted ones left out; unreadable files are errors', () => {
    const finding = { file: 'm/1.sql', line: 2, column: 5, statement: 'ALTER TABLE t DROP COLUMN c', fix: 'two releases', acceptedBecause: null };
    const report = {
      files: [
        {
          file: 'm/1.sql',
          findings: [
            { ...finding, rule: 'drop-column', severity: 'breaking', message: 'drops c::oops\nsecond', accepted: false },
            { ...finding, rule: 'rename-column', severity: 'warning', message: 'w', accepted: false },
            { ...finding, rule: 'drop-table', severity: 'breaking', message: 'ok', accepted: true, acceptedBecause: 'contract' },
          ],
        },
      ],
      errors: [{ file: 'm/2.sql', line: 1, column: 3, message: 'syntax error (sqlite): x' }],
    } as unknown as LintReport;
    const lines = lintAnnotations(report).map((a) => formatAnnotation(a, undefined));
    expect(lines).toEqual([
      '::error file=m/1.sql,line=2,col=5,title=bg lint%3A drop-column::drops c::oops%0Asecond%0A> ALTER TABLE t DROP COLUMN c%0Asafe alternative: two releases',
      '::warning file=m/1.sql,line=2,col=5,title=bg lint%3A rename-column::w%0A> ALTER TABLE t DROP COLUMN c%0Asafe alternative: two releases',
      '::error file=m/2.sql,line=1,col=3,title=bg lint::syntax error (sqlite): x',
    ]);
  });

  it('validate: problems are errors; warnings and notes are warnings', () => {
    const out = validateAnnotations(
      [{ file: 'hosts.yaml', line: 4, column: 9, field: 'hosts.a.port', message: 'too big' }],
      [{ file: 'p.yaml', line: 2, message: 'unused var' }],
      [{ file: 'playbooks/phase2.yaml', playbook: 'phase2', host: 'a', message: 'does not apply' }],
    ).map((a) => formatAnnotation(a));
    expect(out).toEqual([
      '::error file=hosts.yaml,line=4,col=9,title=bg validate::hosts.a.port: too big',
      '::warning file=p.yaml,line=2,title=bg validate%3A warning::unused var',
      '::warning file=playbooks/phase2.yaml,title=bg validate%3A note::does not apply',
    ]);
  });
});

describe('output flags', () => {
  it('GitHub Actions: GITHUB_ACTIONS=true, or --ci with GITHUB_ACTIONS set; never into --json', () => {
    expect(inGithubActions({}, { GITHUB_ACTIONS: 'true' })).toBe(true);
    expect(inGithubActions({}, { GITHUB_ACTIONS: '1' })).toBe(false);
    expect(inGithubActions({ ci: true }, { GITHUB_ACTIONS: '1' })).toBe(true);
    expect(inGithubActions({ ci: true }, { GITHUB_ACTIONS: 'false' })).toBe(false);
    expect(inGithubActions({ ci: true }, {})).toBe(false);
    expect(githubAnnotations({ json: true }, { GITHUB_ACTIONS: 'true' })).toBe(false);
  });

  it('are read before parsing, only before --, the last one winning', () => {
    expect(earlyOutputFlags(['status', '--ci', '--no-color', '--json'])).toEqual({ ci: true, color: false, json: true });
    expect(earlyOutputFlags(['run', 'x', '--', '--ci', '--no-color'])).toEqual({});
    expect(earlyOutputFlags(['--no-color', '--color'])).toEqual({ color: true });
  });
});
