import { quotePath, shellQuote } from './quote.js';
import { scanShell, type Slot } from './shell-context.js';

/** A value that is a path on the host: `~/` must survive quoting. */
export interface PathValue {
  kind: 'path';
  path: string;
}
/** A secret: in a shell command it becomes "$BG_SECRET_NAME", filled in on the host at run time. */
export interface SecretValue {
  kind: 'secret';
  name: string;
}
export type TemplateValue = string | number | boolean | PathValue | SecretValue;
export type TemplateScope = { [name: string]: TemplateValue | TemplateScope | undefined };

/** `shell`: every value is quoted as one shell word. `raw`: values are inserted as text. */
export type RenderMode = 'shell' | 'raw';

export type RenderResult = { ok: true; value: string } | { ok: false; message: string };

const EXPR = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;

export function isPathValue(v: unknown): v is PathValue {
  return typeof v === 'object' && v !== null && (v as PathValue).kind === 'path';
}

function isLeaf(v: unknown): v is PathValue | SecretValue {
  return typeof v === 'object' && v !== null && ((v as PathValue).kind === 'path' || (v as SecretValue).kind === 'secret');
}

/** The shell variable a secret travels in (see transport/secrets.ts). */
export function secretVariable(name: string): string {
  return `BG_SECRET_${name}`;
}

/**
 * Render `{{ a.b }}` references against a scope. Unknown names fail here, at plan time.
 * Values are data: only the template's own text is checked for stray braces, never a value.
 * In `shell` mode each value is quoted for the context it sits in (see shell-context.ts): outside
 * quotes it is one quoted word; inside '…' or "…" the quotes are closed around the quoted word and
 * reopened; where no quoting can keep it literal (backquotes, here-documents, …) rendering fails.
 */
export function render(template: string, scope: TemplateScope, mode: RenderMode): RenderResult {
  const problems: string[] = [];
  const pieces: string[] = [];
  const exprs: string[] = [];
  let last = 0;
  for (const m of template.matchAll(EXPR)) {
    pieces.push(template.slice(last, m.index));
    exprs.push(m[1]!);
    last = m.index! + m[0].length;
  }
  pieces.push(template.slice(last));
  const stray = pieces.find((p) => p.includes('{{') || p.includes('}}'));
  if (stray !== undefined) problems.push(`unbalanced \`${stray.includes('{{') ? '{{' : '}}'}\` in template`);

  const scan = mode === 'shell' ? scanShell(pieces) : undefined;
  if (scan?.unterminated) problems.push(scan.unterminated);
  let out = pieces[0]!;
  exprs.forEach((expr, i) => {
    out += insert(expr, scope, mode, scan?.slots[i], problems) + pieces[i + 1]!;
  });
  if (problems.length) return { ok: false, message: problems.join('; ') };
  return { ok: true, value: out };
}

/** The text that replaces one `{{ expr }}`. */
function insert(expr: string, scope: TemplateScope, mode: RenderMode, slot: Slot | undefined, problems: string[]): string {
  if (!NAME.test(expr)) {
    problems.push(`\`${expr}\` is not a name (expected e.g. {{ vars.release }})`);
    return '';
  }
  const found = lookup(scope, expr);
  if (found === undefined || (typeof found === 'object' && !isLeaf(found))) {
    problems.push(`unknown name \`${expr}\`${suggest(scope, expr)}`);
    return '';
  }
  if (mode === 'raw') {
    if (typeof found === 'object' && found.kind === 'secret') {
      problems.push(`secret \`${expr}\` can only be used in shell commands (shell's command, verify and undo)`);
      return '';
    }
    return isPathValue(found) ? found.path : String(found);
  }
  if (slot?.kind === 'unsafe') {
    problems.push(`\`{{ ${expr} }}\`: ${slot.why}`);
    return '';
  }
  const word = typeof found === 'object' && found.kind === 'secret' ? `"$${secretVariable(found.name)}"` : isPathValue(found) ? quotePath(found.path) : shellQuote(String(found));
  switch (slot?.kind) {
    case 'single':
      return `'${word}'`;
    case 'double':
      return `"${word}"`;
    case 'comment':
      // Inert text; only a newline could end the comment and turn the rest into a command.
      return word.replace(/[\r\n]/g, ' ');
    default:
      return word;
  }
}

function lookup(scope: TemplateScope, expr: string): TemplateValue | TemplateScope | undefined {
  let cur: TemplateValue | TemplateScope | undefined = scope;
  for (const part of expr.split('.')) {
    if (typeof cur !== 'object' || cur === null || isLeaf(cur)) return undefined;
    cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
  }
  return cur;
}

/** "(known: vars.release, vars.region)" for the deepest scope that exists. */
function suggest(scope: TemplateScope, expr: string): string {
  const parts = expr.split('.');
  for (let n = parts.length - 1; n >= 0; n--) {
    const parent = n === 0 ? scope : lookup(scope, parts.slice(0, n).join('.'));
    if (typeof parent === 'object' && parent !== null && !isLeaf(parent)) {
      const prefix = parts.slice(0, n).join('.');
      const names = Object.keys(parent)
        .filter((k) => parent[k] !== undefined)
        .map((k) => (prefix ? `${prefix}.${k}` : k));
      return names.length ? ` (known: ${names.sort().join(', ')})` : '';
    }
  }
  return '';
}
