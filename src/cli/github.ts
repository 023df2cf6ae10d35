import { appendFileSync } from 'node:fs';
import type { EventSink, RunEvent } from '../run/events.js';
import type { HostOutcome } from '../run/executor.js';

/** GitHub Actions workflow commands need %, CR and LF escaped in their message. */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const tail = (s: string, n: number) => s.trimEnd().split('\n').slice(-n).join('\n');

/**
 * The GitHub Actions log: one collapsible `::group::` per host and step, printed whole when the
 * step ends (so that hosts running in parallel never interleave inside a group), a status line
 * outside it, and an `::error::` annotation for a failed step naming host, step and command.
 */
export function githubLog(write: (s: string) => void): EventSink {
  const buffers = new Map<string, string[]>();
  const names = new Map<string, string>();
  const key = (host: string, step: number) => `${host}\0${step}`;
  const flush = (host: string, step: number, status: string) => {
    const k = key(host, step);
    const title = `${host} · ${step}. ${names.get(k) ?? ''}`;
    write(`::group::${title}\n${(buffers.get(k) ?? []).join('\n')}\n::endgroup::\n${status} ${title}\n`);
    buffers.delete(k);
  };
  return (e: RunEvent) => {
    switch (e.type) {
      case 'run-start':
        write(`bg: ${e.playbook} on ${e.host}: ${e.steps} steps, run ${e.runId}\n`);
        break;
      case 'check':
        write(e.ok ? `✔ ${e.host} · pre-flight: ${e.label}\n` : `::error title=${escapeProperty(`bg: pre-flight failed on ${e.host}`)}::${escapeData(`${e.label}\n${e.output}`)}\n`);
        break;
      case 'step-start':
        names.set(key(e.host, e.step), e.name);
        buffers.set(key(e.host, e.step), [`action ${e.action}`]);
        break;
      case 'command': {
        const lines = buffers.get(key(e.host, e.step)) ?? [];
        lines.push(`[${e.phase}${e.attempt > 1 ? ` attempt ${e.attempt}` : ''}] exit ${e.exitCode} in ${Math.round(e.durationMs)}ms`);
        lines.push(...e.cmd.split('\n').map((l, i) => (i ? '    ' : '  $ ') + l));
        if (e.stdout.trim()) lines.push(...tail(e.stdout, 20).split('\n').map((l) => `  | ${l}`));
        if (e.stderr.trim()) lines.push(...tail(e.stderr, 20).split('\n').map((l) => `  ! ${l}`));
        buffers.set(key(e.host, e.step), lines);
        break;
      }
      case 'step-done':
        flush(e.host, e.step, `✔ (${(e.durationMs / 1000).toFixed(1)}s)`);
        break;
      case 'step-failed': {
        flush(e.host, e.step, '✖');
        const [headline = '', ...rest] = e.error.split('\n');
        write(`::error title=${escapeProperty(`bg: ${headline}`)}::${escapeData([headline, ...rest].join('\n'))}\n`);
        break;
      }
      case 'rollback-start':
        write(`↩ ${e.host}: rolling back steps ${e.steps.join(', ')}, newest first\n`);
        break;
      case 'undo-done':
        write(`✔ undid step ${e.step}\n`);
        break;
      case 'undo-skipped':
        write(`- step ${e.step}: nothing to undo (${e.reason})\n`);
        break;
      case 'undo-failed':
        write(`✖ undo of step ${e.step} failed\n::error title=${escapeProperty(`bg: rollback incomplete on ${e.host}`)}::${escapeData(e.error)}\n`);
        break;
      case 'run-end':
        write(`bg: ${e.host}: ${e.outcome} (exit ${e.exitCode}) in ${(e.durationMs / 1000).toFixed(1)}s\n`);
        break;
    }
  };
}

/** Keeps what the step summary needs. */
export class SummaryCollector {
  readonly steps = new Map<string, Array<{ step: number; name: string; ms?: number; status: string }>>();
  readonly sink: EventSink = (e) => {
    if (e.type === 'step-start') this.list(e.host).push({ step: e.step, name: e.name, status: 'running' });
    const row = 'step' in e ? this.list(e.host).find((r) => r.step === e.step) : undefined;
    if (e.type === 'step-done' && row) Object.assign(row, { status: '✔ done', ms: e.durationMs });
    if (e.type === 'step-failed' && row) row.status = '✖ failed';
    if (e.type === 'undo-done' && row) row.status += ', ↩ undone';
    if (e.type === 'undo-failed' && row) row.status += ', ✖ undo failed';
  };
  private list(host: string) {
    if (!this.steps.has(host)) this.steps.set(host, []);
    return this.steps.get(host)!;
  }
}

/** Append a Markdown summary of the run to $GITHUB_STEP_SUMMARY. */
export function writeStepSummary(file: string, title: string, outcomes: HostOutcome[], collected: SummaryCollector): void {
  const md: string[] = [`## bg: ${title}`, ''];
  for (const o of outcomes) {
    const icon = o.status === 'done' ? '✅' : o.status === 'not-started' ? '⏭️' : o.status === 'rolled-back' ? '↩️' : '❌';
    md.push(`### ${icon} ${o.host}: ${o.status} (exit ${o.exitCode}, ${(o.durationMs / 1000).toFixed(1)}s, run \`${o.runId}\`)`, '');
    const rows = collected.steps.get(o.host) ?? [];
    if (rows.length) {
      md.push('| step | outcome | duration |', '|---|---|---|');
      for (const r of rows) md.push(`| ${r.step}. ${r.name.replace(/\|/g, '\\|')} | ${r.status} | ${r.ms === undefined ? '' : `${(r.ms / 1000).toFixed(1)}s`} |`);
      md.push('');
    }
    if (o.failure) md.push('```', tail(o.failure.message, 30), '```', '');
    if (o.status === 'failed-no-rollback' || o.status === 'rollback-incomplete')
      md.push(`To undo: \`bg rollback --host ${o.host} --run ${o.runId}\``, '');
  }
  appendFileSync(file, md.join('\n') + '\n');
}
