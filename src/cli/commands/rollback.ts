import { color } from 'listr2';
import { BgError, ExitCode, UsageError } from '../../errors.js';
import type { PlanStep } from '../../plan/types.js';
import type { RollbackOutcome } from '../../run/executor.js';
import { RUN_FILES } from '../../run/journal-layout.js';
import { JOURNAL_STATE } from '../../run/outcomes.js';
import { chooseRollbackTarget, discardReport, undoUnderLock } from '../../run/rollback-policy.js';
import { resolveRollbackSecrets } from '../../run/rollback-secrets.js';
import { withSecrets } from '../../transport/secrets.js';
import type { Transport } from '../../transport/transport.js';
import { withHosts, type HostArgs } from '../host-session.js';
import { operatorPlaybook } from '../operator-playbook.js';
import { chooseRenderer, eventSink } from '../output.js';
import { multiLine, oneLine } from '../sanitize.js';
import { trapInterrupts } from '../signals.js';
import { parseVars } from '../vars.js';

export interface RollbackArgs extends HostArgs {
  run?: string;
  dryRun?: boolean;
  force?: boolean;
  acceptDataLoss?: boolean;
  /** Of a release: also undo its database changes (see the release-migrate action). */
  restoreDb?: boolean;
  json?: boolean;
  ci?: boolean;
  lockWait?: number;
  /** --var NAME=VALUE: a secret the run was given with --var. */
  var?: string[];
}

/** `bg rollback`: undo a finished or interrupted run from the journal on its host (the policy: src/run/rollback-policy.ts). */
export async function rollbackCommand(args: RollbackArgs): Promise<number> {
  // --json: stdout holds only the JSON events; the words for people go to stderr.
  const out = (s: string) => (args.json ? process.stderr : process.stdout).write(s + '\n');
  return withHosts(args, async (hosts) => {
    if (hosts.length !== 1) throw new UsageError('bg rollback works on one host at a time: name a single host');
    const { name, config } = hosts[0]!;
    // --restore-db reaches the undo commands (and the discard report) as BG_RESTORE_DB=1 on the host.
    const transport = args.restoreDb ? withRestoreDb(hosts[0]!.transport) : hosts[0]!.transport;
    const target = await chooseRollbackTarget(transport, config.journal, name, args.run, !!args.force);
    switch (target.kind) {
      case 'no-runs':
        out(`${name}: no runs recorded in ${config.journal}; nothing to roll back`);
        return ExitCode.ok;
      case JOURNAL_STATE.noJournal:
        out(`${name}: run ${target.id} has no journal (no ${RUN_FILES.run}): it stopped before its first step and changed nothing; nothing to undo`);
        return ExitCode.ok;
      case 'nothing-left':
        out(oneLine(`${name}: run ${target.id} (${target.doc.plan.playbook.name}, ${target.state.status}) has nothing left to undo`));
        return ExitCode.ok;
    }
    const { id, doc, state } = target;

    out(oneLine(`${name}: undo run ${id} (${doc.plan.playbook.name}, ${state.status}, by ${doc.meta.user}@${doc.meta.machine}), newest step first:`));
    for (const step of state.toUndo) out(describeUndo(step, !!args.dryRun));

    // A discard check that reads a PostgreSQL database needs its password: the secrets are resolved first then (as for the undo).
    const needsSecrets = state.toUndo.some((s) => (s.discardCheck ?? []).some((c) => c.cmd.includes('$BG_SECRET_')));
    const resolveSecrets = () => resolveRollbackSecrets({ recorded: doc.plan.secrets, playbook: doc.plan.playbook, host: name, config, cliVars: () => parseVars(args.var), operatorPlaybook: operatorPlaybook() });
    const early = needsSecrets ? resolveSecrets() : undefined;
    const discards = await discardReport(state.toUndo, early ? withSecrets(transport, early) : transport);
    for (const d of discards) out(color.yellow(`  ! undoing ${d.step.index}. ${oneLine(d.step.name)} discards:\n${multiLine(d.text).replace(/^/gm, '      ')}`));
    if (args.dryRun) return ExitCode.ok;
    if (discards.length && !args.acceptDataLoss)
      throw new BgError(`rolling back run ${id} on ${name} would discard the data listed above; pass --accept-data-loss to go ahead`, ExitCode.badInput);

    // The journal on the host only names the secrets; each value comes from the operator's own files or --var.
    const secrets = early ?? resolveSecrets();
    // SIGINT/SIGTERM: while waiting, stop (exit 3, nothing undone); once undoing, finish the undo
    // (an undo stopped halfway is worse than either state); a second signal quits at once (exit 4).
    let undoing = false;
    const interrupts = trapInterrupts({
      first: () => (undoing ? 'finishing the rollback (an undo is never stopped halfway), then releasing the lock' : 'stopping; nothing was undone'),
      second: () =>
        undoing
          ? { code: ExitCode.rollbackIncomplete, message: `The rollback of run ${id} on ${name} did not complete: a person must look. Finish it with: bg rollback --host ${name} --run ${id}  (if its lock is left: bg unlock --host ${name} first)` }
          : { code: ExitCode.locked, message: `Nothing was undone. If a lock of this rollback is left: bg unlock --host ${name}` },
    });
    try {
      return await undoUnderLock({
        transport,
        undoTransport: withSecrets(transport, secrets),
        journal: config.journal,
        host: name,
        target,
        force: !!args.force,
        waitSeconds: args.lockWait ?? 0,
        signal: interrupts.signal,
        undoing: () => (undoing = true),
        renderer: chooseRenderer(args),
        emit: eventSink(args),
        lockLeft: (why) => process.stderr.write(`bg: the lock on ${name} is left (${why}): bg unlock --host ${name}\n`),
      }, (result) => reportUndo(result, name, id, state.toUndo.length, out));
    } finally {
      interrupts.dispose();
    }
  });
}

/** What the undo did; exit 4 when steps that changed the host are left (a person must look). */
function reportUndo(result: RollbackOutcome, name: string, id: string, steps: number, out: (s: string) => void): number {
  const notUndone = [...result.left, ...result.notUndone.filter((s) => !result.left.includes(s))].sort((a, b) => b.index - a.index);
  if (notUndone.length) {
    const why = (s: PlanStep) => (result.left.includes(s) ? '' : ` (${oneLine(s.undoNote ?? 'no undo')})`);
    process.stderr.write(color.red(`${name}: ROLLBACK INCOMPLETE — a person must look.\n${multiLine(result.error?.message ?? `${result.notUndone.length} step(s) that changed ${name} cannot be undone by bg`)}\nNot undone, newest first:\n${notUndone.map((s) => `  ${s.index}. ${oneLine(s.name)}${why(s)}`).join('\n')}\n`));
    return ExitCode.rollbackIncomplete;
  }
  out(color.green(`↩ ${name}: run ${id} undone (${steps} step${steps > 1 ? 's' : ''})`));
  return ExitCode.ok;
}

/** Every command with BG_RESTORE_DB=1 exported first (read by bg_restore_db_asked, src/remote/release.sh). */
function withRestoreDb(inner: Transport): Transport {
  return {
    host: inner.host,
    kind: inner.kind,
    connect: () => inner.connect(),
    close: () => inner.close(),
    ...(inner.redact ? { redact: (t: string) => inner.redact!(t) } : {}),
    ...(inner.boundFor ? { boundFor: (o: Parameters<NonNullable<Transport['boundFor']>>[0]) => inner.boundFor!(o) } : {}),
    exec: (command, options) => inner.exec(`BG_RESTORE_DB=1; export BG_RESTORE_DB; ${command}`, options),
  };
}

function describeUndo(step: PlanStep, withCommands: boolean): string {
  // The journal is the host's: its names and commands are shown, never obeyed by the terminal.
  const head = oneLine(`  ${step.index}. ${step.name} [${step.action}${step.env ? `, ${step.env}` : ''}]`);
  if (step.undo.length === 0) return `${head}: nothing to undo (${oneLine(step.undoNote ?? 'no undo')})`;
  if (!withCommands) return head;
  return [head, ...step.undo.map((c) => multiLine(c.cmd).split('\n').map((l, i) => (i ? '        ' : '      $ ') + l).join('\n'))].join('\n');
}
