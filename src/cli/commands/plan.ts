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

