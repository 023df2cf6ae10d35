import { appendFileSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { EventSink, RunEvent } from '../run/events.js';
import type { HostOutcome } from '../run/executor.js';
import { HOST_STATUS } from '../run/outcomes.js';
import { fence, githubCommand, githubData, githubProperty, markdownCell, markdownText, multiLine, oneLine } from './sanitize.js';

const tail = (s: string, n: number) => s.trimEnd().split('\n').slice(-n).join('\n');

/**
 * The GitHub Actions log: one collapsible `::group::` per host and step, printed whole when the
 * step ends (so that hosts running in parallel never interleave inside a group), a status line
 * outside it, and an `::error::` annotation for a failed step naming host, step and command.
 *
 * Workflow commands are issued only through `githubCommand`, built from escaped parts; every other
 * line carries user values and host output escaped as one line or as text, each behind a prefix
 * (`  $ `, `  > `, `  | `, `  ! `) so that none starts with `::` (the stream guard in sanitize.ts
 * makes sure of that for anything else bg prints).
 */
export function githubLog(write: (s: string) => void): EventSink {
  const buffers = new Map<string, string[]>();
  const names = new Map<string, string>();
  const key = (host: string, step: number) => `${host}\0${step}`;
  const command = (line: string) => githubCommand(line, write);
  const text = (lines: string[], prefix: string) => multiLine(lines.join('\n')).split('\n').map((l) => prefix + l);
  const flush = (host: string, step: number, status: string) => {
    const k = key(host, step);
    const title = `${host} · ${step}. ${oneLine(names.get(k) ?? '')}`;
    command(`::group::${githubData(title)}`);
    write(`${(buffers.get(k) ?? []).join('\n')}\n`);
    command('::endgroup::');
    write(`${status} ${title}\n`);
    buffers.delete(k);
  };
  const error = (title: string, message: string) => command(`::error title=${githubProperty(oneLine(title))}::${githubData(multiLine(message))}`);
  return (e: RunEvent) => {
    switch (e.type) {
      case 'run-start':
        write(`bg: ${oneLine(e.playbook)} on ${e.host}: ${e.steps} steps, run ${oneLine(e.runId)}\n`);
        break;
      case 'check':
        if (e.ok) write(`✔ ${e.host} · pre-flight: ${oneLine(e.label)}\n`);
        else error(`bg: pre-flight failed on ${e.host}`, `${e.label}\n${e.output}`);
        break;
      case 'step-start':
        names.set(key(e.host, e.step), e.name);
        buffers.set(key(e.host, e.step), [`action ${oneLine(e.action)}`]);
        break;
      case 'command': {
        const lines = buffers.get(key(e.host, e.step)) ?? [];
        lines.push(`[${e.phase}${e.attempt > 1 ? ` attempt ${e.attempt}` : ''}] exit ${e.exitCode} in ${Math.round(e.durationMs)}ms`);
        lines.push(...text(e.cmd.split('\n'), '  > ').map((l, i) => (i ? l : '  $ ' + l.slice(4))));
        if (e.stdout.trim()) lines.push(...text([tail(e.stdout, 20)], '  | '));
        if (e.stderr.trim()) lines.push(...text([tail(e.stderr, 20)], '  ! '));
        buffers.set(key(e.host, e.step), lines);
        break;
      }
      case 'step-done':
        flush(e.host, e.step, `✔ (${(e.durationMs / 1000).toFixed(1)}s)`);
        break;
      case 'step-failed': {
        flush(e.host, e.step, '✖');
        const [headline = ''] = e.error.split('\n');
        error(`bg: ${headline}`, e.error);
        break;
      }
      case 'rollback-start':
        write(`↩ ${e.host}: rolling back steps ${e.steps.join(', ')}, newest first\n`);
        break;
      case 'undo-done':
        write(`✔ undid step ${e.step}\n`);
        break;
      case 'undo-skipped':
        write(`- step ${e.step}: nothing to undo (${oneLine(e.reason)})\n`);
        break;
      case 'undo-failed':
        write(`✖ undo of step ${e.step} failed\n`);
        error(`bg: rollback incomplete on ${e.host}`, e.error);
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

/**
 * Append a Markdown summary of the run to $GITHUB_STEP_SUMMARY. Every user value is escaped for
 * Markdown (a step name cannot add a column, a row, a link or HTML), and failure text sits in a
 * fence no content can close.
 */
export function writeStepSummary(file: string, title: string, outcomes: HostOutcome[], collected: SummaryCollector): void {
  const md: string[] = [`## bg: ${markdownText(title)}`, ''];
  for (const o of outcomes) {
    const icon = o.status === HOST_STATUS.done ? '✅' : o.status === HOST_STATUS.notStarted ? '⏭️' : o.status === HOST_STATUS.rolledBack ? '↩️' : '❌';
    md.push(`### ${icon} ${markdownText(o.host)}: ${o.status} (exit ${o.exitCode}, ${(o.durationMs / 1000).toFixed(1)}s, run ${markdownText(o.runId)})`, '');
    const rows = collected.steps.get(o.host) ?? [];
    if (rows.length) {
      md.push('| step | outcome | duration |', '|---|---|---|');
      for (const r of rows) md.push(`| ${r.step}. ${markdownCell(r.name)} | ${markdownCell(r.status)} | ${r.ms === undefined ? '' : `${(r.ms / 1000).toFixed(1)}s`} |`);
      md.push('');
    }
    if (o.failure) md.push(fence(tail(o.failure.message, 30)), '');
    if (o.status === HOST_STATUS.failedNoRollback || o.status === HOST_STATUS.rollbackIncomplete)
      md.push(`To undo: \`bg rollback --host ${o.host} --run ${o.runId}\``, '');
  }
  appendFileSync(file, md.join('\n') + '\n');
}

/** One inline annotation on a file of the pull request (`::error file=…,line=…,col=…,title=…::message`). */
export interface Annotation {
  level: 'error' | 'warning' | 'notice';
  file?: string | undefined;
  line?: number | undefined;
  column?: number | undefined;
  title?: string | undefined;
  message: string;
}

/**
 * A path as GitHub matches it against the diff: relative to $GITHUB_WORKSPACE (with `/`) when the
 * file is under it, else as given (an annotation on a file outside the checkout still shows in
 * the run, just not on the diff).
 */
export function workspacePath(file: string, workspace: string | undefined, cwd = process.cwd()): string {
  if (!workspace) return file;
  const rel = relative(resolve(workspace), resolve(cwd, file));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return file;
  return rel.split(sep).join('/');
}

const positive = (n: number | undefined) => (Number.isInteger(n) && n! > 0 ? n : undefined);

/**
 * The workflow command for an annotation. Properties (file, title) are escaped as properties and
 * shown on one line; the message is escaped as data (`%`, CR and LF encoded), so nothing in a
 * finding, a path or a title can end the command early or start another one.
 */
export function formatAnnotation(a: Annotation, workspace?: string, cwd = process.cwd()): string {
  const props: string[] = [];
  // The runner trims the property list: blank-edged values are trimmed here, so none changes meaning.
  const file = a.file ? oneLine(workspacePath(a.file, workspace, cwd)).trim() : '';
  const title = a.title ? oneLine(a.title).trim() : '';
  if (file) props.push(`file=${githubProperty(file)}`);
  const line = positive(a.line);
  if (line) props.push(`line=${line}`);
  const col = line ? positive(a.column) : undefined;
  if (col) props.push(`col=${col}`);
  if (title) props.push(`title=${githubProperty(title)}`);
  return `::${a.level}${props.length ? ' ' + props.join(',') : ''}::${githubData(multiLine(a.message))}`;
}

/** Issue annotations (through the stream guard, which lets only bg's own workflow commands through). */
export function annotate(list: Annotation[], env = process.env, write?: (s: string) => void): void {
  for (const a of list) githubCommand(formatAnnotation(a, env.GITHUB_WORKSPACE), write);
}
