/**
 * Versions of the example app for release tests and benchmarks, built from examples/app (which
 * stays v1): v2 adds a nullable column (migration 004, additive) and shows it in its health JSON
 * (`version: "v2"`, `billable: true` once migrated). Broken variants: `bad-health` (health always
 * 503) and `bad-500` (healthy, but every other request answers 500). Also a git repository holding
 * them as tags (v1, v2.0.0, bad-health, bad-500) and a tarball of v2.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Variant = 'v1' | 'v2' | 'bad-health' | 'bad-500';

const SKIP = new Set(['node_modules', '.env', '.install-lock', 'database.db', 'database.db-wal', 'database.db-shm']);

/** examples/app as version `variant`, written into `dir`. */
export function buildVersion(appSource: string, dir: string, variant: Variant): string {
  mkdirSync(dir, { recursive: true });
  cpSync(appSource, dir, { recursive: true, filter: (src) => !SKIP.has(src.slice(appSource.length + 1).split('/')[0]!) });
  if (variant === 'v1') return dir;
  writeFileSync(join(dir, 'migrations', '004_add_billable.sql'), '-- v2: additive, nullable: v1 ignores it.\nALTER TABLE time_entries ADD COLUMN billable INTEGER;\n');
  let server = readFileSync(join(dir, 'server.js'), 'utf8');
  const okLine = "return [200, { status: 'ok', ...base, db: openDbFilePath(), migrations }];";
  if (!server.includes(okLine)) throw new Error('examples/app/server.js changed: update test/harness/app-versions.ts');
  server = server.replace(okLine, "return [200, { status: 'ok', ...base, db: openDbFilePath(), migrations, version: 'v2', billable: hasColumn(d, 'time_entries', 'billable') }];");
  if (variant === 'bad-health') server = server.replace('function health() {', "function health() {\n  if (process.pid) return [503, { status: 'error', version: 'v2', error: 'bad-health build' }];");
  if (variant === 'bad-500') server = server.replace("  const route = `", "  if (url.pathname !== '/api/health') return send(res, 500, { error: 'bad-500 build' });\n  const route = `");
  writeFileSync(join(dir, 'server.js'), server);
  return dir;
}

const git = (cwd: string, args: string[]) => execFileSync('git', ['-c', 'user.name=bg test', '-c', 'user.email=bg@test.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** A git repository with every variant as a tag (v1, v2.0.0, bad-health, bad-500), each on top of the last. */
export function buildRepo(appSource: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '-b', 'main']);
  for (const [variant, tag] of [['v1', 'v1'], ['v2', 'v2.0.0'], ['bad-health', 'bad-health'], ['bad-500', 'bad-500']] as const) {
    execFileSync('sh', ['-c', 'find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +'], { cwd: dir });
    buildVersion(appSource, dir, variant);
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-q', '-m', variant]);
    git(dir, ['tag', tag]);
  }
  return dir;
}

/** A .tar.gz of `dir`'s contents under one top directory `name/` (as a CI build would make it). */
export function buildTarball(dir: string, file: string, name = 'app'): string {
  execFileSync('tar', ['-czf', file, '--transform', `s,^\\.,${name},`, '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return file;
}
