import type { HostConfig } from '../config/inventory-schema.js';
import type { Playbook } from '../config/playbook-schema.js';
import { BgError, ExitCode } from '../errors.js';
import { resolveVars } from '../plan/vars.js';

export interface RecordedPlaybook {
  name: string;
  file: string;
}

/** The run's playbook as the operator has it on this machine (found by the CLI: src/cli/operator-playbook.ts). */
export type OperatorPlaybook = (recorded: RecordedPlaybook) => { vars: Playbook['vars']; file: string } | undefined;

/**
 * The secrets a run's undo commands need, for `bg rollback`.
 *
 * The journal lives on the host: whoever can write it must not choose what bg sends there. It
 * only says WHICH secret names the run used; every value is resolved again from the operator's
 * own declarations (the inventory's host vars, the playbook as `bg run` finds it, and `--var`),
 * never from an environment variable name the journal records. A name the operator's files do not
 * declare as a secret is an error naming it.
 */
export function resolveRollbackSecrets(opts: {
  /** `plan.secrets` of the journal: only its keys are used. */
  recorded: unknown;
  playbook: RecordedPlaybook;
  host: string;
  config: HostConfig;
  /** `bg rollback --var NAME=VALUE`, parsed (only when a secret is needed): for a secret the run was given with --var. */
  cliVars: () => Record<string, string>;
  operatorPlaybook: OperatorPlaybook;
  environment?: Record<string, string | undefined>;
}): Record<string, string> {
  const environment = opts.environment ?? process.env;
  const names = recordedNames(opts.recorded);
  if (names.length === 0) return {};
  const cli = opts.cliVars();
  const playbook = opts.operatorPlaybook(opts.playbook);
  const where = playbook ? `the playbook ${playbook.file}` : `the playbook \`${opts.playbook.name}\` (not found here: looked in ./playbooks, the built-ins and ${opts.playbook.file})`;
  const resolved = resolveVars([playbook?.vars ?? {}, opts.config.vars, cli], environment, [where, `the inventory's host ${opts.host}`, '--var']);
  const out: Record<string, string> = {};
  for (const name of names) {
    const problem = resolved.problems.find((p) => p.name === name);
    if (problem) throw new BgError(`cannot undo: ${problem.message}`, ExitCode.badInput);
    // The journal may say the run had this secret from --var: then only --var can give it again (a
    // hostile journal can make bg refuse here, never make it send something else).
    const fromCli = Object.hasOwn(cli, name) ? cli[name] : undefined;
    if (fromCli === undefined && (opts.recorded as Record<string, unknown>)[name] === '--var')
      throw new BgError(`cannot undo: the run was given the secret \`${name}\` with --var; pass it again: bg rollback --host ${opts.host} --var ${name}=VALUE`, ExitCode.badInput);
    const value = Object.hasOwn(resolved.secrets, name) ? resolved.secrets[name] : fromCli;
    if (value !== undefined) {
      out[name] = value;
      continue;
    }
    const declared = Object.hasOwn(resolved.shown, name);
    throw new BgError(
      `cannot undo: the run's undo commands need the secret \`${name}\`, which ${declared ? 'is not declared `secret: true`' : 'is not declared'} in the inventory's host ${opts.host} or ${where}; ` +
        `bg takes secrets only from your own files, never from the journal on the host. Declare it, or pass --var ${name}=VALUE`,
      ExitCode.badInput,
    );
  }
  return out;
}

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function recordedNames(recorded: unknown): string[] {
  if (recorded === undefined || recorded === null) return [];
  if (typeof recorded !== 'object' || Array.isArray(recorded)) throw new BgError('the journal’s run.json is corrupt: plan.secrets is not an object', ExitCode.badInput);
  const names = Object.keys(recorded);
  const bad = names.find((n) => !SHELL_NAME.test(n));
  if (bad !== undefined) throw new BgError(`the journal’s run.json is corrupt: plan.secrets names \`${JSON.stringify(bad).slice(1, -1)}\`, not a variable name`, ExitCode.badInput);
  return names;
}
