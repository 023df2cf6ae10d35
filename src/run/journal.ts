import type { Plan } from '../plan/types.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { BgError, ExitCode } from '../errors.js';

export type JournalEvent = 'run-start' | 'step-start' | 'step-done' | 'step-failed' | 'undo-start' | 'undone' | 'undo-failed' | 'run-end';

/**
 * The journal of one run lives on the host, in the run's directory: plan.json (which holds every
 * step's undo commands) and log (one JSON line per event, stamped by the host's clock). A rollback
 * needs nothing else, even after the machine that started the run is gone.
 */
export class Journal {
  constructor(
    private readonly transport: Transport,
    readonly dir: string,
  ) {}

  /** Write plan.json durably before the first step runs. */
  async start(plan: Plan): Promise<void> {
    const dir = quotePath(this.dir);
    const cmd = `mkdir -p ${dir} && cat > ${dir}/plan.json.tmp && sync ${dir}/plan.json.tmp && mv ${dir}/plan.json.tmp ${dir}/plan.json`;
    await this.must(cmd, JSON.stringify(plan, null, 2) + '\n');
    await this.record('run-start');
  }

  /** Append one event, fsynced, before the caller goes on. */
  async record(event: JournalEvent, step?: number, detail?: string): Promise<void> {
    const fields = [`"event":"${event}"`];
    if (step !== undefined) fields.push(`"step":${step}`);
    if (detail !== undefined) fields.push(`"detail":${JSON.stringify(detail)}`);
    const log = `${quotePath(this.dir)}/log`;
    // The fields travel as one quoted argument, never as part of printf's format.
    await this.must(`printf '{"t":"%s",%s}\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${shellQuote(fields.join(','))} >> ${log} && sync ${log}`);
  }

  private async must(cmd: string, stdin?: string): Promise<void> {
    const r = await this.transport.exec(cmd, { stdin });
    if (r.exitCode !== 0)
      throw new BgError(`cannot write the journal on ${this.transport.host} (${this.dir}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  }
}
