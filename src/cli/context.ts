import type { HostConfig, Inventory } from '../config/inventory-schema.js';
import { findInventory, findPlaybook, loadInventory, loadPlaybook } from '../config/load.js';
import { InputError, type Problem } from '../errors.js';
import { resolveHost } from '../plan/host-model.js';
import { planRun } from '../plan/planner.js';
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
  plans: Array<{ plan: Plan; config: HostConfig }>;
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
  for (const name of hostNames) {
    const config = inventory.value.hosts[name]!;
    try {
      plans.push({ plan: planRun({ playbook: playbook.value, source: playbook.source, host: resolveHost(name, config), vars, runId }), config });
    } catch (e) {
      if (e instanceof InputError) problems.push(...e.problems);
      else throw e;
    }
  }
  if (problems.length) throw new InputError(problems, `cannot plan ${playbook.value.name}`);
  return { inventory: inventory.value, plans };
}
