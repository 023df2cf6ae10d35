import type { VarValue } from '../config/inventory-schema.js';
import type { TemplateScope } from './template.js';
import { MAX_VALUE_BYTES, formatBytes } from './limits.js';

export interface ResolvedVars {
  /** What templates see: plain values, and secrets as references. */
  scope: TemplateScope;
  /** What plans and output show: secrets as ***. */
  shown: Record<string, string>;
  /** Secret values by name: only the transport ever sees them. */
  secrets: Record<string, string>;
  /**
   * Where each secret came from: an environment variable name, `--var`, or null (inline in a file). Recorded in the journal for people to read; `bg rollback` never trusts it (the host
   * could have rewritten it) and resolves every secret from the operator's own files again.
   */
  secretSources: Record<string, string | null>;
  /** `layer`: index of the layer whose value is at fault, so the caller can say where it came from. */
  problems: Array<{ name: string; message: string; layer: number }>;
}

// A secret travels in the shell variable BG_SECRET_<name> (see template.ts, transport/secrets.ts).
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const isSecretDecl = (v: VarValue | null | undefined): boolean => typeof v === 'object' && v !== null && v.secret === true;

/**
 * Merge variables (`--var` over host `vars:` over playbook `vars:`) and resolve `{ env: NAME }` values
 * from `environment`. Pure: the environment is passed in.
 *
 * A variable declared `secret: true` in ANY layer stays secret when a higher layer gives it a plain
 * value (`--var token=…`): that value becomes the secret's value, never plain text in a plan.
 * `origins` names the layers in messages (default: playbook vars, host vars, --var).
 */
export function resolveVars(
  layers: Array<Record<string, VarValue | null>>,
  environment: Record<string, string | undefined>,
  origins: string[] = ['the playbook’s vars', 'the host’s vars', '--var'],
): ResolvedVars {
  const out: ResolvedVars = { scope: {}, shown: {}, secrets: {}, secretSources: {}, problems: [] };
  const names = new Set(layers.flatMap((l) => Object.keys(l)));
  for (const name of names) {
    // The winning layer: the last one that has the name (own properties only: `constructor` is a name too).
    let layer = -1;
    layers.forEach((l, i) => {
      if (Object.hasOwn(l, name)) layer = i;
    });
    const v = layers[layer]![name]!;
    const from = origins[layer] ?? `layer ${layer}`;
    const problem = (message: string) => out.problems.push({ name, message, layer });
    const secret = layers.some((l) => Object.hasOwn(l, name) && isSecretDecl(l[name]));
    if (v === null) {
      problem(`variable \`${name}\` is required: pass --var ${name}=VALUE`);
      // A placeholder keeps the missing variable from also failing every template that uses it.
      out.scope[name] = out.shown[name] = `<${name}>`;
      continue;
    }
    let value: string | undefined;
    if (typeof v !== 'object') value = String(v);
    else if ('env' in v) value = environment[v.env];
    else value = String(v.value);
    if (value === undefined) {
      problem(`variable \`${name}\` comes from the environment variable ${typeof v === 'object' && 'env' in v ? v.env : ''}, which is not set`);
      out.scope[name] = out.shown[name] = `<${name}>`;
      continue;
    }
    // Values a host's shell cannot carry fail here, before anything runs (not as "exited 255" later).
    const bad = valueProblem(value);
    if (bad) problem(`variable \`${name}\` (from ${from}${typeof v === 'object' && 'env' in v ? `, environment variable ${v.env}` : ''}) ${bad}`);
    if (!secret) {
      out.scope[name] = out.shown[name] = value;
      continue;
    }
    if (!SHELL_NAME.test(name))
      problem(`secret \`${name}\` (from ${from}): a secret's name must be letters, digits and _ (it travels in the shell variable BG_SECRET_${name})`);
    if (value.includes('\n')) problem(`secret \`${name}\` (from ${from}) contains a newline, which bg cannot pass safely`);
    out.secrets[name] = value;
    // '--var': bg rollback must be given the value again (it cannot come from a file).
    out.secretSources[name] = from === '--var' ? '--var' : typeof v === 'object' && 'env' in v ? v.env : null;
    out.scope[name] = { kind: 'secret', name };
    out.shown[name] = '***';
  }
  return out;
}

/** Why a value cannot reach a host as data, or undefined. */
export function valueProblem(value: string): string | undefined {
  if (value.includes('\0')) return 'contains a NUL byte, which no shell command or argument can carry';
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_VALUE_BYTES) return `is ${formatBytes(bytes)}: over the ${formatBytes(MAX_VALUE_BYTES)} one command can carry (Linux limits one argument to 128 KiB)`;
  return undefined;
}
