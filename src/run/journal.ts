import type { Plan } from '../plan/types.js';
import type { RunMeta } from './run-meta.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import type { Transport } from '../transport/transport.js';
import { BgError, ExitCode } from '../errors.js';
import { JOURNAL_FILES, RUN_FILES } from './journal-layout.js';

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
    const dir = quotePath(this.dir);
    const [run, tmp, metaFile, seq] = [RUN_FILES.run, `${RUN_FILES.run}.tmp`, RUN_FILES.meta, RUN_FILES.seq].map((f) => `${dir}/${f}`);
    // meta.json duplicates run.json's header so that `bg history` need not read whole plans.
    const writeMeta = `printf '%s\\n' ${shellQuote(JSON.stringify(meta))} > ${metaFile}`;
    const writeRun = `mkdir -p ${dir} && cat > ${tmp} && ${takeSeq(dir)} && ${writeMeta} && sync ${tmp} ${metaFile} ${seq} && mv ${tmp} ${run}`;
    this.pending.push(this.line('run-start'));
    const doc: JournaledRun = { version: 1, meta, plan };
    await this.flush(writeRun, JSON.stringify(doc, null, 2) + '\n');
  }

  /** Record one event; durable events are fsynced (with any buffered ones) before this returns. */
  async record(event: JournalEvent, step?: number, detail?: string): Promise<void> {
    this.pending.push(this.line(event, step, detail));
    if (DURABLE.has(event)) await this.flush();
  }

  private append(): string {
    const log = `${quotePath(this.dir)}/${RUN_FILES.log}`;
    return `{ t=$(date -u +%Y-%m-%dT%H:%M:%SZ); { ${this.pending.join('; ')}; } >> ${log} && sync ${log}; }`;
  }

  private line(event: JournalEvent, step?: number, detail?: string): string {
    const fields = [`"event":"${event}"`];
    if (step !== undefined) fields.push(`"step":${step}`);
    if (detail !== undefined) fields.push(`"detail":${JSON.stringify(detail)}`);
    // The fields travel as one quoted argument, never as part of printf's format.
    return `printf '{"t":"%s",%s}\\n' "$t" ${shellQuote(fields.join(','))}`;
  }

  private async flush(before?: string, stdin?: string): Promise<void> {
    const append = this.append();
    this.pending = [];
    const cmd = before ? `${before} && ${append}` : append;
    const r = await this.transport.exec(cmd, { stdin });
    if (r.exitCode !== 0)
      throw new BgError(`cannot write the journal on ${this.transport.host} (${this.dir}): ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  }
}

/**
 * Shell: the next number of the host's run sequence, into JOURNAL/seq (tmp + fsync + rename, so a
 * crash leaves the old number or the new one) and RUNDIR/seq. A missing or damaged counter is
 * rebuilt from the highest number any run recorded, so the order never goes backwards.
 */
function takeSeq(runDir: string): string {
  const { seq } = JOURNAL_FILES;
  const steps = [
    // RUNDIR is JOURNAL/runs/ID (journal-layout.ts).
    `j=$(dirname -- "$(dirname -- ${runDir})")`,
    `c=$(cat "$j/${seq}" 2>/dev/null)`,
    `case $c in ''|*[!0-9]*) c=$(cat "$j"/${JOURNAL_FILES.runs}/*/${RUN_FILES.seq} 2>/dev/null | grep -x '[0-9][0-9]*' | sort -n | tail -n 1) ;; esac`,
    // Leading zeros would make $(( )) read the number as octal.
    'c=${c#"${c%%[!0]*}"}',
    'n=$((${c:-0} + 1))',
    `printf '%s\\n' "$n" > "$j/${seq}.tmp" && sync "$j/${seq}.tmp" && mv -f "$j/${seq}.tmp" "$j/${seq}" && printf '%s\\n' "$n" > ${runDir}/${RUN_FILES.seq}`,
  ];
  return `{ ${steps.join('; ')}; }`;
}
