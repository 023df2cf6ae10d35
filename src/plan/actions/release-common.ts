// What the release actions share: the host's `release:` settings, a color's release paths, where
// the code comes from (a git ref the host fetches, or an archive bg uploads), the release id.
import { z } from 'zod';
import type { ReleaseConfig } from '../../config/inventory-schema.js';
import { PlanProblem, requireEnvField } from '../action.js';
import type { ResolvedEnv, ResolvedHost } from '../host-model.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import type { Upload } from '../types.js';

/** `with:` fields naming the code: exactly one of `ref` (and `repo`) or `source` (empty: not given). */
export const sourceParams = {
  /** A git ref (tag, branch, commit) fetched by the host from `repo`. */
  ref: z.string().default(''),
  /** A directory or tarball on the machine running bg, streamed to the host. */
  source: z.string().default(''),
  /** The repository the host fetches `ref` from (default: the host's `release.repo`). */
  repo: z.string().optional(),
};

export type ReleaseSource =
  | { kind: 'git'; repo: string; ref: string; label: string }
  | { kind: 'archive'; local: string; archive: string; label: string };

// A ref git itself would read as an option, or with characters no ref name has, is refused.
const REF = /^[A-Za-z0-9_][A-Za-z0-9._/@^~{}-]*$/;

export function requireRelease(host: ResolvedHost, action: string): ReleaseConfig {
  if (!host.release) throw new PlanProblem(`action \`${action}\` needs \`release:\` on host \`${host.name}\` in the inventory`);
  return host.release;
}

/** A color's release layout: DIR/releases/<id>, DIR/current -> releases/<id>. */
export function releasePaths(env: ResolvedEnv): { dir: string; releases: string; current: string } {
  return { dir: env.dir, releases: joinPath(env.dir, 'releases'), current: joinPath(env.dir, 'current') };
}

/** A release is named by the run that made it: its journal and its directory go together. */
export function releaseId(runId: string): string {
  return runId;
}

/** Where bg uploads the archive of a local source on the host. */
export function uploadPath(host: ResolvedHost, runId: string): string {
  return joinPath(host.journal, `uploads/${runId}.tar`);
}

/** The code's origin from `ref`/`source`, or a located problem. */
export function releaseSource(p: { ref: string; source: string; repo?: string }, host: ResolvedHost, runId: string): ReleaseSource {
  const release = requireRelease(host, 'release');
  if (p.ref && p.source) throw new PlanProblem('give `ref` (a git ref the host fetches) or `source` (a directory or tarball here), not both', ['with', 'ref']);
  if (p.source) return { kind: 'archive', local: p.source, archive: uploadPath(host, runId), label: `upload ${p.source.split('/').filter(Boolean).pop() ?? p.source}` };
  if (!p.ref) throw new PlanProblem('give `ref` (--var ref=v1.4.0: a git ref the host fetches) or `source` (--var source=PATH: a directory or tarball here)', ['with', 'ref']);
  if (!REF.test(p.ref) || p.ref.includes('..')) throw new PlanProblem(`ref ${JSON.stringify(p.ref)} is not a git ref name (letters, digits and . _ / @ ^ ~ { } -, not starting with - or holding ..)`, ['with', 'ref']);
  const repo = p.repo ?? release.repo;
  if (!repo) throw new PlanProblem(`a release from a ref needs the repository: \`release.repo\` on host \`${host.name}\` in the inventory, or \`with.repo\``, ['with', 'repo']);
  return { kind: 'git', repo, ref: p.ref, label: p.ref };
}

/** The upload a source needs (none for a git ref). */
export function sourceUploads(src: ReleaseSource): Upload[] {
  return src.kind === 'archive' ? [{ local: src.local, remote: src.archive }] : [];
}

/** The source's words for the remote library: `git REPO REF` or `archive ARCHIVE -`. */
export function sourceWords(src: ReleaseSource): [string, string, string] {
  return src.kind === 'git' ? ['git', shellQuote(src.repo), shellQuote(src.ref)] : ['archive', quotePath(src.archive), '-'];
}

/** The env's pm2 app (a release runs under pm2). */
export function releaseApp(env: ResolvedEnv | undefined): string {
  return requireEnvField(env, 'app');
}

/** Every color's `current` link: a release one of them runs is never removed. */
export function currentLinks(host: ResolvedHost): string[] {
  const names = host.proxy ? host.proxy.colors : Object.keys(host.envs);
  return names.flatMap((n) => (Object.hasOwn(host.envs, n) ? [joinPath(host.envs[n]!.dir, 'current')] : []));
}

/** Whether a playbook has steps that only a host with `release:` can run. */
export function needsRelease(playbook: { steps: ReadonlyArray<{ action: string }> }): boolean {
  return playbook.steps.some((s) => s.action.startsWith('release-'));
}
