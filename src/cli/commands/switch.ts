import { join } from 'node:path';
import { BUILTIN_PLAYBOOKS } from '../package-info.js';
import type { HostArgs } from '../host-session.js';
import { runCommand } from './run.js';

export interface SwitchArgs extends HostArgs {
  to: string;
  dryRun?: boolean;
  json?: boolean;
  ci?: boolean;
  lockWait?: number;
}

/** `bg switch --to COLOR`: bg's built-in `switch` playbook, run like `bg run switch --var to=COLOR`. */
export async function switchCommand(args: SwitchArgs): Promise<number> {
  return runCommand({
    playbook: join(BUILTIN_PLAYBOOKS, 'switch.yaml'),
    host: args.host,
    inventory: args.inventory,
    acceptNewHostKey: args.acceptNewHostKey,
    var: [`to=${args.to}`],
    dryRun: args.dryRun,
    json: args.json,
    ci: args.ci,
    lockWait: args.lockWait,
  });
}
