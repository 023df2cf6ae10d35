import type { Plan } from '../plan/types.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { BgError, ExitCode } from '../errors.js';

export type JournalEvent = 'run-start' | 'step-start' | 'step-done' | 'step-failed' | 'undo-start' | 'undone' | 'undo-failed' | 'run-end';

// Events that must be on disk before bg goes on: the start of anything that changes the host,
// and every outcome a rollback depends on. The others ride along with the next durable write:
// a lost `step-done` only makes a rollback undo a step it would have undone anyway.
const DURABLE: ReadonlySet<JournalEvent> = new Set(['run-start', 'step-start', 'step-failed', 'undo-start', 'undo-failed', 'run-end']);

/**
 * The journal of one run lives on the host, in the run's directory: plan.json (which holds every
 * step's undo commands) and log (one JSON line per event, stamped by the host's clock). A rollback
 * needs nothing else, even after the machine that started the run is gone.
 */
export class Journal {
  private pending: string[] = [];

  constructor(
    private readonly transport: Transport,
    readonly dir: string,
  ) {}

  /** Write plan.json and the run-start event durably, in one round trip, before the first step. */
  async start(plan: Plan): Promise<void> {
    const dir = quotePath(this.dir);
    const writePlan = `mkdir -p ${dir} && cat > ${dir}/plan.json.tmp && sync ${dir}/plan.json.tmp && mv ${dir}/plan.json.tmp ${dir}/plan.json`;
    this.pending.push(this.line('run-start'));
    await this.flush(writePlan, JSON.stringify(plan, null, 2) + '\n');
  }

  /** Record one event; durable events are fsynced (with any buffered ones) before this returns. */
  async record(event: JournalEvent, step?: number, detail?: string): Promise<void> {
    this.pending.push(this.line(event, step, detail));
    if (DURABLE.has(event)) await this.flush();
  }

  private line(event: JournalEvent, step?: number, detail?: string): string {
    const fields = [`"event":"${event}"`];
    if (step !== undefined) fields.push(`"step":${step}`);
    if (detail !== undefined) fields.push(`"detail":${JSON.stringify(detail)}`);
    // The fields travel as one quoted argument, never as part of printf's format.
    return `printf '{"t":"%s",%s}\\n' "$t" ${shellQuote(fields.join(','))}`;
  }

  private async flush(before?: string, stdin?: string): Promise<void> {
    const log = `${quotePath(this.dir)}/log`;
    const append = `t=$(date -u +%Y-%m-%dT%H:%M:%SZ); { ${this.pending.join('; ')}; } >> ${log} && sync ${log}`;
    this.pending = [];
    const cmd = before ? `${before} && ${append}` : append;
    const r = await this.transport.exec(cmd, { stdin });
    if (r.exitCode !== 0)
      throw new BgError(`cannot write the journal on ${this.transport.host} (${this.dir}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  }
}
