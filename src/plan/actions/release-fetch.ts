import { z } from 'zod';
import { type ActionDef } from '../action.js';
import { dirExists, toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { currentLinks, releaseId, releasePaths, releaseSource, requireRelease, sourceParams, sourceUploads } from './release-common.js';

const params = z
  .object({
    ...sourceParams,
    /** Installs the dependencies in the release directory (default: the host's `release.install`). */
    install: z.string().min(1).optional(),
  })
  .strict();

/**
 * The code of a release into the step's color's `releases/<run id>`: the tree of a git ref the
 * host fetches itself (a bare cache beside the releases), or an archive bg uploaded before the
 * run; then its dependencies, installed in it (refused without a lockfile). Written under a
 * temporary name and renamed: a release directory is whole or absent. Undo: the release removed.
 */
export const releaseFetchAction: ActionDef<z.output<typeof params>> = {
  name: 'release-fetch',
  summary: "fetch a release's code (git ref on the host, or an uploaded directory/tarball) and install its dependencies",
  env: 'required',
  params,
  build(input) {
    const { params: p, env, host, runId } = input;
    const release = requireRelease(host, 'release-fetch');
    const src = releaseSource(p, host, runId);
    const paths = releasePaths(env!);
    const id = releaseId(runId);
    const sd = quotePath(stepDir(input));
    const rel = quotePath(paths.releases);
    const install = p.install ?? release.install;
    const fetch =
      src.kind === 'git'
        ? call('bg_release_fetch_git', sd, rel, shellQuote(id), shellQuote(src.repo), shellQuote(src.ref))
        : call('bg_release_fetch_archive', sd, rel, shellQuote(id), quotePath(src.archive), shellQuote(`archive ${src.local}`));
    return {
      mutates: true,
      preflight: [dirExists(env!.dir), toolPresent('tar'), ...(src.kind === 'git' ? [toolPresent('git')] : [])],
      run: [
        { cmd: fetch, label: `${src.label} -> ${paths.releases}/${id}` },
        { cmd: call('bg_release_install', quotePath(`${paths.releases}/${id}`), shellQuote(install)), label: `install dependencies: ${install}` },
      ],
      verify: [{ cmd: call('bg_release_check', rel, shellQuote(id)), label: `release ${id} is complete` }],
      undo: [{ cmd: call('bg_release_undo_fetch', sd, rel, shellQuote(id), ...currentLinks(host).map(quotePath)), label: `remove ${paths.releases}/${id}` }],
      uploads: sourceUploads(src),
    };
  },
};
