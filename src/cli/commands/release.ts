import { UsageError } from '../../errors.js';
import type { HostArgs } from '../host-session.js';
import { runCommand } from './run.js';

export interface ReleaseArgs extends HostArgs {
  ref?: string;
  source?: string;
  watch?: string;
  maxErrorRate?: number;
  allowBreaking?: boolean;
  dryRun?: boolean;
  rollback?: boolean;
  serial?: number;
  lockWait?: number;
  json?: boolean;
  ci?: boolean;
}

/**
 * `bg release --ref R | --source PATH`: the `release` playbook (yours in ./playbooks first, else
 * bg's), run like `bg run release --var ref=R` (or `--var source=PATH`).
 */
export async function releaseCommand(args: ReleaseArgs): Promise<number> {
  if ((args.ref === undefined) === (args.source === undefined)) throw new UsageError('bg release needs --ref REF (a git ref the host fetches) or --source PATH (a directory or tarball here), one of them');
  const vars = [args.ref !== undefined ? `ref=${args.ref}` : `source=${args.source}`];
  if (args.watch !== undefined) vars.push(`watch=${args.watch}`);
  if (args.maxErrorRate !== undefined) vars.push(`max_error_rate=${args.maxErrorRate}`);
  return runCommand({
    playbook: 'release',
    host: args.host,
    inventory: args.inventory,
    acceptNewHostKey: args.acceptNewHostKey,
    var: vars,
    dryRun: args.dryRun,
    allowBreaking: args.allowBreaking,
    rollback: args.rollback,
    serial: args.serial,
    json: args.json,
    ci: args.ci,
    lockWait: args.lockWait,
  });
}
