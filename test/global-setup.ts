import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

// The tests run real sqlite3, curl, OpenSSH and shellcheck: install them when missing (Debian, as root),
// so that a fresh machine needs nothing but `npm test`.
const NEEDED: Array<{ check: () => boolean; pkg: string }> = [
  { check: () => spawnSync('sqlite3', ['--version']).status === 0, pkg: 'sqlite3' },
  { check: () => spawnSync('curl', ['--version']).status === 0, pkg: 'curl' },
  { check: () => existsSync('/usr/sbin/sshd'), pkg: 'openssh-server' },
  { check: () => spawnSync('ssh-keygen', ['-?']).error === undefined, pkg: 'openssh-client' },
  // test/e2e/github-action.test.ts checks action.yml's scripts with it.
  { check: () => spawnSync('shellcheck', ['--version']).status === 0, pkg: 'shellcheck' },
  // test/e2e/proxy.test.ts and bench/proxy.bench.ts run a real HAProxy (socat: for a person poking its admin socket).
  { check: () => existsSync('/usr/sbin/haproxy'), pkg: 'haproxy' },
  { check: () => spawnSync('socat', ['-V']).status === 0, pkg: 'socat' },
  // test/e2e/postgres.test.ts starts its own cluster (initdb, pg_ctl) and runs psql, pg_dump, pg_restore.
  { check: () => existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((m) => existsSync(`/usr/lib/postgresql/${m}/bin/initdb`)) && spawnSync('pg_dump', ['--version']).status === 0, pkg: 'postgresql' },
];

export default async function setup(): Promise<void> {
  installSystemPackages();
  // The example app's native module builds once here (about a minute on a fresh clone), not in
  // several test files at once.
  const { ensureExampleApp } = await import('./harness/pm2.js');
  await ensureExampleApp();
}

function installSystemPackages(): void {
  const missing = NEEDED.filter((n) => !n.check()).map((n) => n.pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0)
    throw new Error(`the tests need ${missing.join(', ')}; install them (not root or no apt-get here)`);
  console.log(`[setup] installing ${missing.join(', ')} with apt-get`);
  const install = () => spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (!install()) {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    if (!install()) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  }
}
