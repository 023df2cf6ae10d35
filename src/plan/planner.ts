import type { Problem } from '../errors.js';
import { InputError } from '../errors.js';
import type { Playbook, StepConfig } from '../config/playbook-schema.js';
import { problemAt, type YamlSource } from '../config/yaml-source.js';
import { PlanProblem, type ActionDef } from './action.js';
import { ACTIONS } from './actions/index.js';
import { templateScope, type ResolvedEnv, type ResolvedHost } from './host-model.js';
import { joinPath, quotePath } from './quote.js';
import { render, type TemplateScope } from './template.js';
import type { Command, Download, Gate, Plan, PlanStep, Upload } from './types.js';
import { call } from './sh-lib.js';
import { resolveVars } from './vars.js';
import { oversizeCommands } from './limits.js';
import { liveStillCheck } from './actions/proxy-common.js';

export interface PlanInput {
  playbook: Playbook;
  /** Where the playbook came from, to locate problems in it. */
  source: YamlSource;
  /** Where the inventory came from: a problem with a host's variable is located there. */
  inventorySource?: YamlSource;
  host: ResolvedHost;
  /** `--var K=V` values; they win over host and playbook vars. */
  vars: Record<string, string>;
  /** Where `{ env: NAME }` variables are read from (bg's environment; tests pass their own). */
  environment?: Record<string, string | undefined>;
  runId: string;
  /** Told about what is allowed but likely a mistake (a changing step without `undo:`), located. */
  warn?: (problem: Problem) => void;
}

/** Turn playbook + host + vars into concrete steps. Pure: no I/O, no clock. Reports every problem at once. */
export function planRun(input: PlanInput): Plan {
  const { playbook, source, host, runId } = input;
  const problems: Problem[] = [];
  const at = (path: Array<string | number>, message: string) =>
    problems.push(problemAt(source, path, `${message} (host ${host.name})`));

  const vars = resolveVars([playbook.vars, host.vars, input.vars], input.environment ?? {});
  for (const p of vars.problems) {
    // Located where the winning definition is written: --var has no file, the host's in the inventory.
    const fromHost = !Object.hasOwn(input.vars, p.name) && Object.hasOwn(host.vars, p.name) && input.inventorySource;
    problems.push(fromHost ? problemAt(input.inventorySource!, ['hosts', host.name, 'vars', p.name], `${p.message} (host ${host.name})`) : problemAt(source, ['vars', p.name], p.message));
  }
  const runDir = joinPath(host.journal, `runs/${runId}`);

  const steps: PlanStep[] = [];
  const preflight = new Map<string, Command>();
  const gates: Gate[] = [];
  const uploads: Upload[] = [];
  let endedEarly: string | undefined;
  playbook.steps.forEach((step, i) => {
    if (endedEarly !== undefined) return;
    const action = Object.hasOwn(ACTIONS, step.action) ? ACTIONS[step.action] : undefined;
    if (!action) {
      at(['steps', i, 'action'], `unknown action \`${step.action}\` (known: ${Object.keys(ACTIONS).sort().join(', ')})`);
      return;
    }
    const hostScope = templateScope(host, vars.scope, { id: runId, dir: runDir });
    for (const env of stepEnvs(step, action, host, hostScope, (p, m) => at(['steps', i, ...p], m))) {
      const scope = templateScope(host, vars.scope, { id: runId, dir: runDir }, env);
      const built = buildStep(action, step, env, scope, { host, runId, runDir, stepIndex: steps.length + 1 });
      if ('problems' in built) built.problems.forEach(([p, m]) => at(['steps', i, ...p], m));
      else {
        for (const m of oversizeCommands(built.step)) at(['steps', i], `step ${steps.length + 1}: ${m}`);
        steps.push(built.step, ...built.more);
        if (built.step.mutates && built.step.undo.length === 0 && acceptsParam(action, 'undo'))
          input.warn?.(problemAt(source, ['steps', i], `step "${built.step.name}" changes the host and has no \`undo:\`: if a later step fails, the rollback cannot put it back (exit 4)`));
        for (const c of withPrefix(built.preflight, host.commandPrefix)) if (!preflight.has(c.cmd)) preflight.set(c.cmd, c);
        gates.push(...withPrefix(built.gates, host.commandPrefix));
        uploads.push(...built.uploads);
        endedEarly ??= built.endsPlaybook;
      }
    }
  });
  if (problems.length) throw new InputError(dedupe(problems), `cannot plan ${playbook.name} for ${host.name}`);
  // Planned with the live color read from the host: the run starts only if it is still live.
  if (host.proxy && host.live !== undefined) {
    const c = liveStillCheck(host.proxy, host.live);
    preflight.set(c.cmd, { ...c, cmd: host.commandPrefix + c.cmd });
  }

  return {
    version: 1,
    runId,
    playbook: { name: playbook.name, file: source.file, description: playbook.description },
    host: { name: host.name, transport: host.transport, target: host.target },
    journalDir: runDir,
    vars: vars.shown,
    secrets: vars.secretSources,
    preflight: [...preflight.values()],
    gates,
    steps,
    ...(uploads.length ? { uploads } : {}),
    ...(endedEarly !== undefined ? { endedEarly } : {}),
  };
}

type Report = (path: Array<string | number>, message: string) => void;

/** The envs a step runs for: one pass per env of `envs:`, the `env:`, or none. */
function stepEnvs(step: StepConfig, action: ActionDef<unknown>, host: ResolvedHost, scope: TemplateScope, report: Report): Array<ResolvedEnv | undefined> {
  let names = Array.isArray(step.envs) ? step.envs : step.env ? [step.env] : [];
  if (typeof step.envs === 'string') {
    // `envs: "{{ vars.envs }}"`: names separated by commas or spaces, e.g. --var envs=green,blue
    const r = render(step.envs, scope, 'raw');
    if (!r.ok) {
      report(['envs'], r.message);
      return [];
    }
    names = r.value.split(/[\s,]+/).filter(Boolean);
    if (names.length === 0) {
      report(['envs'], '`envs` names no env');
      return [];
    }
  }
  if (names.length === 0) {
    if (action.env === 'required') {
      report(['action'], `action \`${action.name}\` needs \`env:\` or \`envs:\``);
      return [];
    }
    return [undefined];
  }
  if (action.env === 'none') {
    report(['env'], `action \`${action.name}\` takes no env`);
    return [];
  }
  const envs: ResolvedEnv[] = [];
  names.forEach((name, j) => {
    const env = Object.hasOwn(host.envs, name) ? host.envs[name] : undefined;
    const field = Array.isArray(step.envs) ? ['envs', j] : step.envs ? ['envs'] : ['env'];
    if (env) envs.push(env);
    else report(field, `unknown env \`${name}\` (host has: ${Object.keys(host.envs).join(', ') || 'no envs'})`);
  });
  return envs;
}

type Built = { step: PlanStep; more: PlanStep[]; preflight: Command[]; gates: Gate[]; uploads: Upload[]; endsPlaybook?: string } | { problems: Array<[Array<string | number>, string]> };

function buildStep(
  action: ActionDef<unknown>,
  step: StepConfig,
  env: ResolvedEnv | undefined,
  scope: TemplateScope,
  ctx: { host: ResolvedHost; runId: string; runDir: string; stepIndex: number },
): Built {
  const problems: Array<[Array<string | number>, string]> = [];
  const name = render(step.name, scope, 'raw');
  if (!name.ok) problems.push([['name'], name.message]);
  const rendered = renderParams(step.with, action.shellTemplates ?? [], scope, ['with'], problems);
  if (problems.length) return { problems };

  const parsed = action.params.safeParse(rendered);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((issue) =>
        issue.code === 'unrecognized_keys'
          ? [['with', ...issue.path.map(String), issue.keys[0] ?? ''], `unknown parameter (action \`${action.name}\` takes: ${paramNames(action)})`]
          : [['with', ...issue.path.map(String)], issue.message],
      ),
    };
  }
  try {
    const body = action.build({ params: parsed.data, env, ...ctx });
    const label = name.ok ? name.value : step.name;
    return {
      step: {
        index: ctx.stepIndex,
        name: env && step.envs && !step.name.includes('{{') ? `${label} (${env.name})` : label,
        action: action.name,
        env: env?.name,
        mutates: body.mutates,
        capture: withPrefix(body.capture ?? [], ctx.host.commandPrefix),
        run: withPrefix(body.run, ctx.host.commandPrefix),
        verify: withPrefix(body.verify, ctx.host.commandPrefix),
        undo: withPrefix(body.undo ?? [], ctx.host.commandPrefix),
        ...(body.discardCheck ? { discardCheck: withPrefix(body.discardCheck, ctx.host.commandPrefix) } : {}),
        undoNote: body.undoNote,
        ...(body.download ? { download: { ...body.download, cmd: ctx.host.commandPrefix + body.download.cmd } } : {}),
        ...(body.undoLast ? { undoLast: true } : {}),
      },
      more: (body.moreDownloads ?? []).map((d, j) => copyStep(d, ctx.stepIndex + 1 + j, label, action.name, env?.name, ctx.host.commandPrefix)),
      preflight: body.preflight ?? [],
      gates: body.gates ?? [],
      uploads: body.uploads ?? [],
      ...(body.endsPlaybook !== undefined ? { endsPlaybook: body.endsPlaybook } : {}),
    };
  } catch (e) {
    if (e instanceof PlanProblem) return { problems: [[e.field, e.message]] };
    throw e;
  }
}

/** A read-only step that copies one more file of the step before it off the host (StepBody.moreDownloads). */
function copyStep(d: Download, index: number, label: string, action: string, env: string | undefined, prefix: string): PlanStep {
  return {
    index,
    name: `${label}: copy ${d.remote.split('/').pop()} off the host`,
    action,
    ...(env !== undefined ? { env } : {}),
    mutates: false,
    capture: [],
    run: withPrefix([{ cmd: call('bg_backup_ok', quotePath(d.remote)), label: `${d.remote} exists and passes quick_check` }], prefix),
    verify: [],
    undo: [],
    undoNote: 'read-only (a copy on this machine)',
    download: { ...d, cmd: prefix + d.cmd },
  };
}

/** Every command of a host starts with its `environment:` and `path:` exports. */
function withPrefix<C extends { cmd: string }>(commands: C[], prefix: string): C[] {
  return prefix ? commands.map((c) => ({ ...c, cmd: prefix + c.cmd })) : commands;
}

/** Render every string under `with:`; fields listed in `shell` are shell text, the rest raw values. */
function renderParams(
  value: unknown,
  shell: readonly string[],
  scope: TemplateScope,
  path: Array<string | number>,
  problems: Array<[Array<string | number>, string]>,
): unknown {
  if (typeof value === 'string') {
    // A shell field, or an item of a list of shell commands (`smoke: [...]`).
    const mode = (path.length === 2 || (path.length === 3 && typeof path[2] === 'number')) && shell.includes(String(path[1])) ? 'shell' : 'raw';
    const r = render(value, scope, mode);
    if (!r.ok) problems.push([path, r.message]);
    return r.ok ? r.value : value;
  }
  if (Array.isArray(value)) return value.map((v, i) => renderParams(v, shell, scope, [...path, i], problems));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderParams(v, shell, scope, [...path, k], problems)]));
  return value;
}

/** Whether the action's `with:` has a field of this name (so the playbook could have set it). */
function acceptsParam(action: ActionDef<unknown>, name: string): boolean {
  const shape = (action.params as { shape?: Record<string, unknown> }).shape;
  return !!shape && Object.hasOwn(shape, name);
}

function paramNames(action: ActionDef<unknown>): string {
  const shape = (action.params as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape).join(', ') : 'see the README';
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.file}:${p.line}:${p.column}:${p.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}
