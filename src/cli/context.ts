import type { HostConfig, Inventory } from '../config/inventory-schema.js';
import { findInventory, findPlaybook, loadInventory, loadPlaybook } from '../config/load.js';
import { InputError, formatProblem, type Problem } from '../errors.js';
import { resolveHost } from '../plan/host-model.js';
import { planRun } from '../plan/planner.js';
import { resolveVars } from '../plan/vars.js';
import type { Plan } from '../plan/types.js';
import { selectHosts } from './hosts.js';
import { newRunId } from './run-id.js';
import { parseVars } from './vars.js';

export interface PlanArgs {
  playbook: string;
  host: string;
  inventory?: string;
  var?: string[];
}

export interface Planned {
  inventory: Inventory;
  /** Each host's plan, its inventory entry, and the secret values its plan refers to. */
  plans: Array<{ plan: Plan; config: HostConfig; secrets: Record<string, string> }>;
  /** Allowed but likely mistakes (a changing step without undo), once each; `bg plan` prints them. */
  warnings: Problem[];
}

/** Everything before execution: load, validate and plan for every host. Throws InputError with all problems. */
export function planFromArgs(args: PlanArgs, runId = newRunId()): Planned {
  const invFile = findInventory(args.inventory);
  const inventory = loadInventory(invFile);
  const hostNames = selectHosts(inventory.value, args.host, invFile ?? 'the built-in inventory');
  const playbook = loadPlaybook(findPlaybook(args.playbook));
  const vars = parseVars(args.var);
  const problems: Problem[] = [];
  const plans: Planned['plans'] = [];
  const warnings = new Map<string, Problem>();
  const warn = (p: Problem) => warnings.set(formatProblem(p), p);
  for (const name of hostNames) {
    const config = inventory.value.hosts[name]!; // selectHosts returned own keys only
    try {
      const host = resolveHost(name, config);
      const plan = planRun({ playbook: playbook.value, source: playbook.source, inventorySource: inventory.source, host, vars, runId, environment: process.env, warn });
      const { secrets } = resolveVars([playbook.value.vars, host.vars, vars], process.env);
      plans.push({ plan, config, secrets });
    } catch (e) {
      if (e instanceof InputError) problems.push(...e.problems);
      else throw e;
    }
  }
  if (problems.length) throw new InputError(problems, `cannot plan ${playbook.value.name}`);
  return { inventory: inventory.value, plans, warnings: [...warnings.values()] };
}
