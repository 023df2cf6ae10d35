import { hostname } from 'node:os';
import { ExitCode, LockedError } from '../../errors.js';
import { readLock, removeLock } from '../../run/lock.js';
import { describeHolder } from '../../run/run-meta.js';
import { withHosts, type HostArgs } from '../host-session.js';

export interface UnlockArgs extends HostArgs {
  force?: boolean;
}

/** `bg unlock`: remove a lock whose run is gone (a dead bg process on this machine), or any lock with --force. */
export async function unlockCommand(args: UnlockArgs): Promise<number> {
  return withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const lock = await readLock(transport, config.journal);
      if (!lock) {
        process.stdout.write(`${name}: not locked\n`);
        continue;
      }
      const gone = lock.machine === hostname() && typeof lock.pid === 'number' && !alive(lock.pid);
      if (!gone && !args.force)
        throw new LockedError(name, `${describeHolder(lock)}\nthat run may still be going (it was not started from this machine, or its process is alive); if you are sure it is gone: bg unlock --host ${name} --force`);
      await removeLock(transport, config.journal);
      process.stdout.write(`${name}: removed the lock of ${describeHolder(lock)}${gone ? ' (its process is gone)' : ' (--force)'}\nIf that run was interrupted, bg history shows it and bg rollback --host ${name} --run ${lock.runId ?? 'ID'} undoes it.\n`);
    }
    return ExitCode.ok;
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
