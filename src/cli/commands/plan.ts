import type { Argv } from 'yargs';
import { planFromArgs, type PlanArgs } from '../context.js';
import { formatPlan } from '../print-plan.js';

export interface PrintArgs extends PlanArgs {
  json?: boolean;
}

/** Print plans (text, or JSON with --json); touches no host. Shared by `bg plan` and `bg run --dry-run`. */
export function printPlans(args: PrintArgs, write = (s: string) => process.stdout.write(s)): number {
  const { plans } = planFromArgs(args);
  if (args.json) write(JSON.stringify(plans.map((p) => p.plan), null, 2) + '\n');
  else write(plans.map((p) => formatPlan(p.plan)).join('\n'));
  return 0;
}

export function planOptions<T>(y: Argv<T>) {
  return y
    .positional('playbook', { type: 'string', demandOption: true, describe: 'Playbook name (./playbooks/NAME.yaml or built-in) or path' })
    .option('host', { alias: 'H', type: 'string', demandOption: true, describe: 'Host(s) or group(s) from the inventory, comma-separated' })
    .option('var', { type: 'string', array: true, describe: 'Set a playbook variable: --var NAME=value (repeatable)' })
    .option('json', { type: 'boolean', describe: 'Print the plan as JSON (an array, one plan per host)' });
}
