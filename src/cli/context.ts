import type { HostConfig, Inventory } from '../config/inventory-schema.js';
import { findInventory, findPlaybook, loadInventory, loadPlaybook } from './load.js';
import { InputError, formatProblem, type Problem } from '../errors.js';
import { resolveHost, type ResolvedHost } from '../plan/host-model.js';
import { planRun } from '../plan/planner.js';
import { sqliteVersionCheck } from '../plan/preflight.js';
import { stepSqliteNeeds } from '../plan/sqlite-needs.js';
import { resolveVars } from '../plan/vars.js';
import type { Plan } from '../plan/types.js';
import { selectHosts } from './hosts.js';
import { newRunId } from './run-id.js';
import { parseVars } from './vars.js';
import { refuseSameMachine } from './same-machine.js';

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
export function planFromArgs(args: PlanArgs, runId = newRunId(), live: ReadonlyMap<string, string> = new Map()): Planned {
  const invFile = findInventory(args.inventory);
  const inventory = loadInventory(invFile);
  const hostNames = selectHosts(inventory.value, args.host, invFile ?? 'the built-in inventory');
  refuseSameMachine(hostNames.map((name) => ({ name, config: inventory.value.hosts[name]! })));
  const playbook = loadPlaybook(findPlaybook(args.playbook));
  const vars = parseVars(args.var);
  const problems: Problem[] = [];
  const plans: Planned['plans'] = [];
  const warnings = new Map<string, Problem>();
  const warn = (p: Problem) => warnings.set(formatProblem(p), p);
  for (const name of hostNames) {
    const config = inventory.value.hosts[name]!; // selectHosts returned own keys only
    try {
      const host = resolveHost(name, config, live.get(name));
      const plan = withSqliteCheck(planRun({ playbook: playbook.value, source: playbook.source, inventorySource: inventory.source, host, vars, runId, environment: process.env, warn }), host);
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

/**
 * The plan with the check that the host's sqlite3 is new enough for its steps (see
 * sqlite-features.ts), placed after "sqlite3 is installed". `bg doctor` and anything else that
 * plans should go through here too.
 */
export function withSqliteCheck(plan: Plan, host: ResolvedHost): Plan {
  const check = sqliteVersionCheck(stepSqliteNeeds(plan));
  if (!check) return plan;
  const prefixed = { ...check, cmd: host.commandPrefix + check.cmd };
  const at = plan.preflight.findIndex((c) => c.label === 'sqlite3 is installed');
  const preflight = [...plan.preflight];
  preflight.splice(at + 1, 0, prefixed);
  return { ...plan, preflight };
}

/**
 * The hosts whose live color must be read before planning: those with a proxy, when the playbook
 * uses `{{ live.* }}` or `{{ idle.* }}` (the planner is pure: the color comes in as data).
 */
export function hostsNeedingLive(args: PlanArgs): Array<{ name: string; config: HostConfig }> {
  const invFile = findInventory(args.inventory);
  const inventory = loadInventory(invFile);
  const names = selectHosts(inventory.value, args.host, invFile ?? 'the built-in inventory');
  const withProxy = names.map((name) => ({ name, config: inventory.value.hosts[name]! })).filter((h) => h.config.proxy);
  if (withProxy.length === 0) return [];
  const playbook = loadPlaybook(findPlaybook(args.playbook));
  return usesLiveNames(playbook.source.doc.toString()) ? withProxy : [];
}

/** Whether a playbook's text refers to `live.` or `idle.` names. */
export function usesLiveNames(text: string): boolean {
  return /\{\{\s*(live|idle)\./.test(text);
}
