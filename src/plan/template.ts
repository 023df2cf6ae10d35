import { quotePath, shellQuote } from './quote.js';

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

/** Render `{{ a.b }}` references against a scope. Unknown names fail here, at plan time. */
export function render(template: string, scope: TemplateScope, mode: RenderMode): RenderResult {
  const unknown: string[] = [];
  const value = template.replace(EXPR, (_match, expr: string) => {
    if (!NAME.test(expr)) {
      unknown.push(`\`${expr}\` is not a name (expected e.g. {{ vars.release }})`);
      return '';
    }
    const found = lookup(scope, expr);
    if (found === undefined || (typeof found === 'object' && !isLeaf(found))) {
      unknown.push(`unknown name \`${expr}\`${suggest(scope, expr)}`);
      return '';
    }
    if (typeof found === 'object' && found.kind === 'secret') {
      if (mode === 'shell') return `"$${secretVariable(found.name)}"`;
      unknown.push(`secret \`${expr}\` can only be used in shell commands (shell's command, verify and undo)`);
      return '';
    }
    return formatValue(found, mode);
  });
  if (unknown.length) return { ok: false, message: unknown.join('; ') };
  const stray = value.indexOf('{{') >= 0 ? '{{' : value.indexOf('}}') >= 0 ? '}}' : undefined;
  if (stray) return { ok: false, message: `unbalanced \`${stray}\` in template` };
  return { ok: true, value };
}

function formatValue(v: Exclude<TemplateValue, SecretValue>, mode: RenderMode): string {
  if (isPathValue(v)) return mode === 'shell' ? quotePath(v.path) : v.path;
  const text = String(v);
  return mode === 'shell' ? shellQuote(text) : text;
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
