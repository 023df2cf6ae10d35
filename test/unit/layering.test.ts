// Layering: src/plan/ and src/config/ are pure (text and values in, plans and problems out).
// They never touch files, processes or hosts: those live in src/cli/ (files), src/run/ and
// src/transport/ (hosts), and src/remote/ (the shell library loader, which may read its files).
// Imports are read with the TypeScript parser, not with a regular expression, so that every form
// counts: static, type-only, re-exports, `import x = require()`, `import()` and `require()`.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { loadInventory, loadPlaybook } from '../../src/cli/load.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { planRun } from '../../src/plan/planner.js';
import { runDir, runsDir, lockDir, stepDir } from '../../src/run/journal-layout.js';
import { HOST_STATUS, lastStep, RUN_END, RUN_STATUS, shownOutcome, statusFromEnd } from '../../src/run/outcomes.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/** Modules that do I/O on this machine: a pure layer imports none of them. */
const FORBIDDEN = new Set(['fs', 'fs/promises', 'child_process', 'execa']);
/** Pure layers: no file, process or transport import, directly or through what they import. */
const PURE = ['plan', 'config'];
/** May read files although pure layers import it: the remote library loader (issue 12). */
const ALLOWED_IO = ['remote'];

interface Import {
  spec: string;
  line: number;
  /** `import type`, `export type`, `import('x').T`: erased from the JavaScript. */
  typeOnly: boolean;
}

/** Every module specifier a TypeScript file names; `spec` is `<dynamic>` when it cannot be known. */
export function importsOf(fileName: string, text: string): Import[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const at = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const literal = (e: ts.Expression | undefined): string => (e && (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) ? e.text : '<dynamic>');
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      const c = n.importClause;
      // `import { type A, type B } from` is erased too.
      const allTypes = !!c && !c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly);
      out.push({ spec: literal(n.moduleSpecifier), line: at(n), typeOnly: !!c?.isTypeOnly || allTypes });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier) out.push({ spec: literal(n.moduleSpecifier), line: at(n), typeOnly: n.isTypeOnly });
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference))
      out.push({ spec: literal(n.moduleReference.expression), line: at(n), typeOnly: n.isTypeOnly });
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal))
      out.push({ spec: n.argument.literal.text, line: at(n), typeOnly: true });
    else if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && (callee.text === 'require' || callee.text === 'createRequire');
      if (isImport || isRequire) out.push({ spec: isRequire && callee.getText(sf) === 'createRequire' ? '<createRequire>' : literal(n.arguments[0]), line: at(n), typeOnly: false });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** `node:fs/promises` → `fs/promises`: the same module either way. */
const bare = (spec: string) => spec.replace(/^node:/, '');

/** The source file a relative import names (`./x.js` is `./x.ts` in src/). */
function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = resolve(dirname(from), spec);
  return target.replace(/\.js$/, '.ts');
}

const under = (file: string, dir: string) => file.startsWith(join(SRC, dir) + sep);
const shown = (file: string) => relative(ROOT, file).split(sep).join('/');

/** Why this import breaks the rule for a pure layer's file, or undefined when it does not. */
export function violation(from: string, imp: Import): string | undefined {
  if (imp.spec === '<dynamic>') return 'a dynamic import whose module cannot be known';
  if (imp.spec === '<createRequire>') return 'createRequire (loads modules this test cannot see)';
  if (FORBIDDEN.has(bare(imp.spec))) return `imports ${imp.spec}`;
  const local = resolveLocal(from, imp.spec);
  if (local && under(local, 'transport')) return `imports ${imp.spec} (a transport)`;
  return undefined;
}

function tsFiles(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.ts')).map((n) => join(dir, n));
}

const importCache = new Map<string, Import[]>();
function importsOfFile(file: string): Import[] {
  if (!importCache.has(file)) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // A missing target is tsc's problem, not this test's.
    }
    importCache.set(file, importsOf(file, text));
  }
  return importCache.get(file)!;
}

/** Offenders among the pure layers' own imports, as `path:line: why`. */
function directOffenders(): string[] {
  const found: string[] = [];
  for (const layer of PURE)
    for (const file of tsFiles(join(SRC, layer)))
      for (const imp of importsOfFile(file)) {
        const why = violation(file, imp);
        if (why) found.push(`${shown(file)}:${imp.line}: ${why}`);
      }
  return found.sort();
}

/**
 * Offenders reached through runtime imports: a pure file importing a src/ module that imports
 * node:fs does I/O all the same. Named by the chain that leads there. `direct`: also report the
 * start files' own imports (the first test reports those for src/plan and src/config).
 */
function transitiveOffenders(starts: string[], direct = false): string[] {
  const found = new Set<string>();
  for (const start of starts) {
    const seen = new Set<string>([start]);
    const queue: Array<{ file: string; chain: string[] }> = [{ file: start, chain: [shown(start)] }];
    while (queue.length) {
      const { file, chain } = queue.shift()!;
      for (const imp of importsOfFile(file)) {
        if (imp.typeOnly && (chain.length > 1 || !direct)) continue;
        const why = violation(file, imp);
        if (why && (direct || chain.length > 1)) found.add(`${chain.join(' → ')}:${imp.line}: ${why}`);
        const next = resolveLocal(file, imp.spec);
        if (imp.typeOnly || !next || seen.has(next) || !next.startsWith(SRC + sep) || ALLOWED_IO.some((d) => under(next, d))) continue;
        seen.add(next);
        queue.push({ file: next, chain: [...chain, shown(next)] });
      }
    }
  }
  return [...found].sort();
}

describe('layering: src/plan and src/config do no I/O', () => {
  it('no file under src/plan/ or src/config/ imports node:fs, node:child_process, execa or a transport', () => {
    expect(tsFiles(join(SRC, 'plan')).length).toBeGreaterThan(5);
    expect(tsFiles(join(SRC, 'config')).length).toBeGreaterThan(3);
    // On failure the list names each offending file, line and import.
    expect(directOffenders()).toEqual([]);
  });

  it('nor do the src/ modules they import at run time (src/remote/, the library loader, excepted)', () => {
    expect(transitiveOffenders(PURE.flatMap((layer) => tsFiles(join(SRC, layer))))).toEqual([]);
  });

  it('the journal layout and the run outcomes, which the planner may use too, reach nothing with I/O', () => {
    const starts = ['src/run/journal-layout.ts', 'src/run/outcomes.ts'].map((f) => join(ROOT, f));
    for (const f of starts) expect(readFileSync(f, 'utf8')).toMatch(/export const/);
    expect(transitiveOffenders(starts, true)).toEqual([]);
  });
});

describe('layering: the import reader', () => {
  const from = join(SRC, 'plan', 'x.ts');
  const offences = (text: string) => importsOf(from, text).map((i) => violation(from, i)).filter(Boolean);

  it('sees every form of import', () => {
    const text = [
      "import { readFileSync } from 'node:fs';",
      "import * as cp from 'child_process';",
      "import type { Transport } from '../transport/transport.js';",
      "export { x } from 'fs/promises';",
      "import fsx = require('fs');",
      "const m = await import('node:child_process');",
      'const e = await import(`execa`);',
      "const r = require('node:fs');",
      'const d = await import(name);',
      "type T = import('../transport/ssh.js').SshTransport;",
      "import { shellQuote } from './quote.js';",
      "import { z } from 'zod';",
      "import { join } from 'node:path';",
      "const s = 'import fs from \"node:fs\"';",
    ].join('\n');
    expect(offences(text)).toEqual([
      'imports node:fs',
      'imports child_process',
      'imports ../transport/transport.js (a transport)',
      'imports fs/promises',
      'imports fs',
      'imports node:child_process',
      'imports execa',
      'imports node:fs',
      'a dynamic import whose module cannot be known',
      'imports ../transport/ssh.js (a transport)',
    ]);
  });

  it('finds a forbidden import wherever it sits among harmless code (property)', () => {
    const harmless = fc.constantFrom("import { z } from 'zod';", "import { join } from 'node:path';", 'const a = 1;', "// import fs from 'node:fs'", "const s = 'require(\"fs\")';", 'export function f() { return 2; }');
    const bad = fc.constantFrom(
      ["import { readFileSync } from 'node:fs';", 'imports node:fs'],
      ["import { execa } from 'execa';", 'imports execa'],
      ["export * from '../transport/local.js';", 'imports ../transport/local.js (a transport)'],
      ["void import('node:child_process');", 'imports node:child_process'],
      ['function g() { return require("fs"); }', 'imports fs'],
    );
    fc.assert(
      fc.property(fc.array(harmless, { maxLength: 6 }), bad, fc.array(harmless, { maxLength: 6 }), (before, [line, why], after) => {
        expect(offences([...before, line, ...after].join('\n'))).toEqual([why]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('defined once: the journal layout and the outcome words', () => {
  it('the planner puts a run where the journal layout says (runs/ID under the host journal)', () => {
    const inv = loadInventory(fileURLToPath(new URL('../fixtures/hosts.yaml', import.meta.url))).value;
    const [name, cfg] = Object.entries(inv.hosts)[0]!;
    const host = resolveHost(name, cfg);
    const pb = loadPlaybook(fileURLToPath(new URL('../fixtures/playbooks/release.yaml', import.meta.url)));
    const id = '20250101T000000.000Z-abcd';
    const plan = planRun({ playbook: pb.value, source: pb.source, host, vars: { release: 'r1' }, runId: id, environment: {} });
    expect(plan.journalDir).toBe(runDir(cfg.journal, id));
    expect(runDir(cfg.journal, id).startsWith(runsDir(cfg.journal) + '/')).toBe(true);
    expect(stepDir(runDir('/j', id), 3)).toBe(`/j/runs/${id}/steps/3`);
    expect(lockDir('/j/')).toBe('/j/lock');
  });

  it('every journal run-end detail reads back as the status it names; none or an unknown one is interrupted', () => {
    expect(statusFromEnd({ detail: RUN_END.done }, false)).toBe(RUN_STATUS.done);
    expect(statusFromEnd({ detail: RUN_END.failedNoRollback }, false)).toBe(RUN_STATUS.failedNoRollback);
    expect(statusFromEnd({ detail: RUN_END.rollbackIncomplete }, false)).toBe(RUN_STATUS.rollbackIncomplete);
    expect(statusFromEnd({ detail: RUN_END.rolledBack }, true)).toBe(RUN_STATUS.rolledBack);
    // A later bg rollback undid everything: rolled back, whatever the first run-end said.
    expect(statusFromEnd({ detail: RUN_END.failedNoRollback }, true)).toBe(RUN_STATUS.rolledBack);
    expect(statusFromEnd(undefined, false)).toBe(RUN_STATUS.interrupted);
    fc.assert(
      fc.property(fc.string(), fc.boolean(), (detail, nothingLeft) => {
        const s = statusFromEnd({ detail }, nothingLeft);
        expect(Object.values(RUN_STATUS)).toContain(s);
        if (!Object.values(RUN_END).includes(detail as never) && !nothingLeft) expect(s).toBe(RUN_STATUS.interrupted);
      }),
      { numRuns: 200 },
    );
    expect(new Set(Object.values(HOST_STATUS)).size).toBe(Object.keys(HOST_STATUS).length);
  });

  it('what history and status show for a run', () => {
    const run = { id: 'A', hasJournal: true };
    expect(shownOutcome({ ...run, problem: 'h:/j/runs/A/log: line 2: bad' }, undefined)).toBe('unreadable: h:/j/runs/A/log: line 2: bad');
    expect(shownOutcome({ ...run, lastEnd: RUN_END.done }, 'A')).toBe('done');
    expect(shownOutcome(run, 'A')).toBe('running');
    expect(shownOutcome({ ...run, hasJournal: false }, undefined)).toBe('no journal (nothing ran)');
    expect(shownOutcome(run, undefined)).toBe('interrupted');
    expect(shownOutcome(run, 'B', { hint: true })).toBe('interrupted (bg rollback can undo it)');
    // A run whose bg went away: the last step's outcome as the host journaled it.
    const ev = (event: string, step?: number, detail?: string) => ({ event, ...(step !== undefined ? { step } : {}), ...(detail !== undefined ? { detail } : {}) });
    expect(shownOutcome({ ...run, events: [ev('run-start'), ev('step-start', 5), ev('step-done', 5)] }, undefined)).toBe('interrupted; step 5 done on the host');
    expect(shownOutcome({ ...run, events: [ev('step-start', 5), ev('step-failed', 5, 'run command 2: exit 1 after 1 attempt(s)')] }, undefined, { hint: true })).toBe(
      'interrupted (bg rollback can undo it); step 5 failed on the host (run command 2: exit 1 after 1 attempt(s))',
    );
    expect(lastStep([ev('step-start', 3)])).toMatchObject({ step: 3, outcome: 'started' });
    expect(lastStep([ev('step-done', 3), ev('undo-start', 3), ev('undone', 3)])).toMatchObject({ step: 3, outcome: 'undone' });
    expect(lastStep([ev('run-start')])).toBeUndefined();
    // A run-end wins over any step outcome.
    expect(shownOutcome({ ...run, lastEnd: RUN_END.rolledBack, events: [ev('step-done', 2)] }, undefined)).toBe('rolled back');
  });
});
