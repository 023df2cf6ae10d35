import type { Plan } from '../plan/types.js';
import type { RunMeta } from './run-meta.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { BgError, ExitCode } from '../errors.js';
import { RUN_FILES } from './journal-layout.js';
import { call } from '../plan/sh-lib.js';

/** What run.json holds. */
export interface JournaledRun {
  version: 1;
  meta: RunMeta;
  plan: Plan;
}

export type JournalEvent = 'run-start' | 'step-start' | 'step-done' | 'step-failed' | 'undo-start' | 'undone' | 'undo-failed' | 'run-end';

// Events that must be on disk before bg goes on: the start of anything that changes the host,
// and every outcome a rollback depends on. The others ride along with the next durable write:
// a lost `step-done` only makes a rollback undo a step it would have undone anyway.
const DURABLE: ReadonlySet<JournalEvent> = new Set(['run-start', 'step-start', 'step-failed', 'undo-start', 'undo-failed', 'run-end']);

/**
 * The journal of one run lives on the host, in the run's directory: run.json (who started it, and
 * the plan, which holds every step's undo commands) and log (one JSON line per event, stamped by the host's clock). A rollback
 * needs nothing else, even after the machine that started the run is gone.
 */
export class Journal {
  private pending: string[] = [];

  constructor(
    private readonly transport: Transport,
    readonly dir: string,
  ) {}

  /**
   * Write run.json and the run-start event durably, in one round trip, before the first step. The
   * run also takes the next number of the host's own sequence (JOURNAL/seq, under the host lock
   * the caller holds) into RUNDIR/seq: runs are ordered by it, never by the clock of the machine
   * that started them (run ids carry that clock).
   */
  async start(plan: Plan, meta: RunMeta): Promise<void> {
    const { cmd, stdin } = this.startCommand(plan, meta);
    const r = await this.transport.exec(cmd, { stdin });
    if (r.exitCode !== 0) throw this.cannotWrite(r.stderr.trim() || `exit ${r.exitCode}`);
  }

  /**
   * The command (with its stdin) that writes run.json, meta.json, the run's number and the
   * run-start event: sent alone by start(), or in front of the first step (one round trip less).
   */
  startCommand(plan: Plan, meta: RunMeta): { cmd: string; stdin: string } {
    // meta.json duplicates run.json's header so that `bg history` need not read whole plans.
    const doc: JournaledRun = { version: 1, meta, plan };
    return {
      cmd: `${call('bg_journal_start', quotePath(this.dir), shellQuote(JSON.stringify(meta)))} && ${this.appendCommand([fields('run-start')])}`,
      stdin: JSON.stringify(doc, null, 2) + '\n',
    };
  }

  /** The error of a journal that cannot be written. */
  cannotWrite(why: string): BgError {
    return new BgError(`cannot write the journal on ${this.transport.host} (${this.dir}): ${why}`, ExitCode.stepFailed);
  }

  /** Record one event; durable events are fsynced (with any buffered ones) before this returns. */
  async record(event: JournalEvent, step?: number, detail?: string): Promise<void> {
    this.pending.push(fields(event, step, detail));
    if (!DURABLE.has(event)) return;
    const cmd = this.appendCommand(this.pending);
    this.pending = [];
    const r = await this.transport.exec(cmd);
    if (r.exitCode !== 0) throw this.cannotWrite(r.stderr.trim() || `exit ${r.exitCode}`);
  }

  /**
   * The command that writes the run's last line (with any buffered ones): for the caller to send
   * with the host lock's release, in one round trip. Its failure is not reported (as record's
   * run-end failures are not: every step is already journaled).
   */
  endCommand(detail: string): string {
    const cmd = this.appendCommand([...this.pending, fields('run-end', undefined, detail)]);
    this.pending = [];
    return cmd;
  }

  private appendCommand(lines: string[]): string {
    return call('bg_journal_append', quotePath(`${this.dir}/${RUN_FILES.log}`), ...lines.map(shellQuote));
  }
}

/** One event's JSON members (the host adds its own time in front). */
function fields(event: JournalEvent, step?: number, detail?: string): string {
  const f = [`"event":"${event}"`];
  if (step !== undefined) f.push(`"step":${step}`);
  if (detail !== undefined) f.push(`"detail":${JSON.stringify(detail)}`);
  return f.join(',');
}
