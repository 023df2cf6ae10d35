import type { VarValue } from '../config/inventory-schema.js';
import type { TemplateScope } from './template.js';

export interface ResolvedVars {
  /** What templates see: plain values, and secrets as references. */
  scope: TemplateScope;
  /** What plans and output show: secrets as ***. */
  shown: Record<string, string>;
  /** Secret values by name: only the transport ever sees them. */
  secrets: Record<string, string>;
  /** Where each secret came from: an environment variable name, or null (inline in a file). */
  secretSources: Record<string, string | null>;
  problems: Array<{ name: string; message: string }>;
}

/**
 * Merge variables (`--var` over host `vars:` over playbook `vars:`) and resolve `{ env: NAME }` values
 * from `environment`. Pure: the environment is passed in.
 */
export function resolveVars(
  layers: Array<Record<string, VarValue | null>>,
  environment: Record<string, string | undefined>,
): ResolvedVars {
  const merged: Record<string, VarValue | null> = Object.assign({}, ...layers);
  const out: ResolvedVars = { scope: {}, shown: {}, secrets: {}, secretSources: {}, problems: [] };
  for (const [name, v] of Object.entries(merged)) {
    if (v === null) {
      out.problems.push({ name, message: `variable \`${name}\` is required: pass --var ${name}=VALUE` });
      // A placeholder keeps the missing variable from also failing every template that uses it.
      out.scope[name] = out.shown[name] = `<${name}>`;
      continue;
    }
    if (typeof v !== 'object') {
      out.scope[name] = out.shown[name] = String(v);
      continue;
    }
    const value = 'env' in v ? environment[v.env] : String(v.value);
    if (value === undefined) {
      out.problems.push({ name, message: `variable \`${name}\` comes from the environment variable ${'env' in v ? v.env : ''}, which is not set` });
      out.scope[name] = out.shown[name] = `<${name}>`;
      continue;
    }
    if (!v.secret) {
      out.scope[name] = out.shown[name] = value;
      continue;
    }
    if (value.includes('\n')) out.problems.push({ name, message: `secret \`${name}\` contains a newline, which bg cannot pass safely` });
    out.secrets[name] = value;
    out.secretSources[name] = 'env' in v ? v.env : null;
    out.scope[name] = { kind: 'secret', name };
    out.shown[name] = '***';
  }
  return out;
}
