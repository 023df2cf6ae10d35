// The npm package as users receive it (issue 11, items 5 and 6): what `npm pack` ships, that the
// shipped Markdown links resolve inside the tarball, and the tarball installed into a fresh
// project: the command runs through npx, `bg init` writes schema lines that resolve in a second
// clone of that project, and the files validate against those schemas.
import { execa } from 'execa';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
/** No npm lifecycle scripts of bg itself (prepare rebuilds dist/, which other tests are using). */
const npm = (args: string[], cwd: string, timeout = 90_000) =>
  execa('npm', args, { cwd, reject: false, timeout, env: { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });

describe('npm pack', () => {
  let files: string[];

  beforeAll(async () => {
    const r = await npm(['pack', '--dry-run', '--json', '--ignore-scripts'], repo);
    expect(r.exitCode, r.stderr).toBe(0);
    files = (JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  }, 60_000);

  it('ships the program, playbooks, schemas, README and LICENSE, and no tests or CI files', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/bg.js', 'dist/cli/main.js', 'schemas/hosts.schema.json', 'schemas/playbook.schema.json', 'playbooks/phase1.yaml', 'hosts.example.yaml'])
      expect(files, f).toContain(f);
    // src/remote/*.sh is the remote library bg installs on hosts (read at run time), not source to build.
    expect(files).toContain('src/remote/sqlite.sh');
    const forbidden = files.filter((f) => (/^(test|\.ci|\.team|src|scripts|examples|node_modules)\//.test(f) && !/^src\/remote\/[a-z0-9-]+\.sh$/.test(f)) || /\.test\.[jt]s$/.test(f) || /^\.git/.test(f));
    expect(forbidden).toEqual([]);
  });

  it('declares LICENSE as MIT and ssh2 (imported directly) in the lockfile major', () => {
    const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    expect(manifest.license).toBe('MIT');
    expect(readFileSync(join(repo, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 bg contributors\n/);
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
    const locked = lock.packages['node_modules/ssh2'].version as string;
    expect(manifest.dependencies.ssh2).toMatch(new RegExp(`^\\^${locked.split('.')[0]}\\.`));
    expect(lock.packages[''].dependencies.ssh2).toBe(manifest.dependencies.ssh2);
    // Every dependency with an install script is allowed or denied explicitly (npm 11 allowScripts).
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([p, v]) => p.startsWith('node_modules/') && v.hasInstallScript)
      .map(([p]) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0);
    for (const name of withScripts) expect(manifest.allowScripts, name).toHaveProperty([name]);
  });

  it('every relative link in a shipped Markdown file points at a shipped file', () => {
    const dead: string[] = [];
    for (const md of files.filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(repo, md), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/i.test(target)) continue; // anchors and absolute URLs
        const resolved = normalize(join(dirname(md), target)).replace(/\/$/, '');
        if (!files.some((f) => f === resolved || f.startsWith(`${resolved}/`))) dead.push(`${md}: ${m[1]}`);
      }
    }
    expect(dead).toEqual([]);
  });
});

describe('the tarball installed into a fresh project', () => {
  let work: string;
  let project: string;
  let registryReachable = true;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bg-pack-'));
    const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], repo);
    expect(packed.exitCode, packed.stderr).toBe(0);
    const tarball = join(work, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
    project = join(work, 'project');
    mkdirSync(project);
    // As the README says: ssh2's optional native builds approved or denied by the project itself.
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh', private: true, allowScripts: { ssh2: false, 'cpu-features': false } }, null, 2));
    const installed = await npm(['install', '--save-dev', tarball, '--no-audit', '--no-fund', '--prefer-offline'], project);
    if (installed.exitCode !== 0 && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network/i.test(installed.stderr)) {
      registryReachable = false;
      console.warn(`packaging test skipped: the npm registry is unreachable and the cache lacks a dependency:\n${installed.stderr}`);
      return;
    }
    expect(installed.exitCode, installed.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const npx = (args: string[], cwd = project) => execa('npx', args, { cwd, reject: false, timeout: 60_000, env: { CI: 'true', NO_COLOR: '1' } });

  it('runs the installed program through npx, by the name bg-deploy', async (ctx) => {
    if (!registryReachable) return ctx.skip();
    const version = await npx(['--no', '--', 'bg-deploy', '--version']);
    expect(version.stdout.trim(), version.stderr).toBe(pkg.version);
    const viaPackage = await npx(['-p', 'bg-deploy', '--', 'bg-deploy', '--version']);
    expect(viaPackage.stdout.trim(), viaPackage.stderr).toBe(pkg.version);
    const validate = await npx(['--no', 'bg-deploy', 'validate']);
    expect(validate.exitCode, validate.stderr).toBe(0);
    expect(validate.stdout).toMatch(/files valid/);
  });

  it('npx with the command bg reaches the shell builtin, not this program (why bg-deploy exists)', async (ctx) => {
    if (!registryReachable) return ctx.skip();
    const r = await npx(['--no', 'bg', 'validate']);
    expect(r.stdout).not.toMatch(/files valid/);
    expect(r.exitCode).not.toBe(0);
  });

  it('bg init writes $schema lines that resolve in a second clone, and the files validate against them', async (ctx) => {
    if (!registryReachable) return ctx.skip();
    const init = await npx(['--no', 'bg-deploy', 'init']);
    expect(init.exitCode, init.stderr).toBe(0);
    // A second clone elsewhere: same files, node_modules as `npm ci` would make them.
    const clone = join(work, 'elsewhere', 'clone');
    cpSync(project, clone, { recursive: true, verbatimSymlinks: true });
    rmSync(project, { recursive: true, force: true }); // nothing may point back at the first one
    const yamls = ['hosts.yaml', ...readdirSync(join(clone, 'playbooks')).map((f) => `playbooks/${f}`)];
    expect(yamls.length).toBeGreaterThan(3);
    const ajv = new Ajv.default({ strict: false });
    for (const file of yamls) {
      const text = readFileSync(join(clone, file), 'utf8');
      const ref = /^# yaml-language-server: \$schema=(\S+)$/.exec(text.split('\n')[0]!)?.[1];
      expect(ref, file).toMatch(/^\.{1,2}\/.*node_modules\/bg-deploy\/schemas\/(hosts|playbook)\.schema\.json$/);
      const schemaFile = resolve(dirname(join(clone, file)), ref!);
      const schema = JSON.parse(readFileSync(schemaFile, 'utf8'));
      expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
      const validate = ajv.getSchema(schema.$id) ?? ajv.compile(schema);
      expect(validate(parse(text)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const validate = await npx(['--no', 'bg-deploy', 'validate'], clone);
    expect(validate.exitCode, validate.stderr).toBe(0);
  });
});
