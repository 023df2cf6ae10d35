#!/usr/bin/env node
// The README's demo: a real run of bg on this machine (the `local` host, no SSH).
// It creates BLUE and GREEN with real SQLite databases, serves their health endpoints over real
// HTTP, previews and runs the built-in `backup` playbook, shows the result, and cleans up.
// Pass --keep to leave the sandbox in place for a look around.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const bgBin = join(repo, 'bin', 'bg.js');
const keep = process.argv.includes('--keep');
const say = (s) => console.log(`\n\x1b[1m== ${s}\x1b[0m`);

if (!existsSync(join(repo, 'dist', 'cli', 'main.js'))) execFileSync('npx', ['tsc', '-p', repo], { stdio: 'inherit' });
if (spawnSync('sqlite3', ['--version']).status !== 0) {
  console.error('demo: the sqlite3 command is needed (Debian/Ubuntu: apt-get install sqlite3)');
  process.exit(2);
}

const root = mkdtempSync(join(tmpdir(), 'bg-demo-'));
const servers = [];
function cleanup() {
  for (const s of servers) s.close();
  if (!keep) rmSync(root, { recursive: true, force: true });
}

async function serveHealth(name) {
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/api/health' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', env: name }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return server.address().port;
}

function makeEnv(name, rows) {
  const dir = join(root, `TimeTracking-${name.toUpperCase()}`, 'server');
  mkdirSync(dir, { recursive: true });
  const values = Array.from({ length: rows }, (_, i) => `('demo entry ${i + 1}', ${15 * (i + 1)})`).join(',');
  execFileSync('sqlite3', [join(dir, 'database.db'), `PRAGMA journal_mode=WAL; CREATE TABLE time_entries(id INTEGER PRIMARY KEY, description TEXT, minutes INT); INSERT INTO time_entries(description, minutes) VALUES ${values};`], { stdio: 'ignore' });
  return dir;
}

try {
  say(`Sandbox ${root}: BLUE and GREEN, each with a SQLite database and an HTTP health endpoint`);
  const envs = {};
  for (const [name, rows] of [['blue', 120], ['green', 80]]) envs[name] = { dir: makeEnv(name, rows), port: await serveHealth(name) };
  const envYaml = (n) => `      ${n}: { dir: ${envs[n].dir}, db: database.db, port: ${envs[n].port}, health: "http://127.0.0.1:${envs[n].port}/api/health" }`;
  writeFileSync(join(root, 'hosts.yaml'), `hosts:\n  local:\n    local: true\n    envs:\n${envYaml('blue')}\n${envYaml('green')}\n    backups: { dir: ${root}/backups, keep: 5 }\n    journal: ${root}/journal\n`);
  // Asynchronous: the health endpoints are served by this very process.
  const bgRun = (args) =>
    new Promise((resolve) => spawn(process.execPath, [bgBin, ...args], { cwd: root, stdio: 'inherit' }).on('exit', (code) => resolve(code)));

  say('bg validate');
  if (await bgRun(['validate', 'hosts.yaml', join(repo, 'playbooks', 'backup.yaml')]) !== 0) process.exitCode = 2;

  say('bg plan backup --host local   (the exact commands; nothing runs)');
  const plan = spawnSync(process.execPath, [bgBin, 'plan', 'backup', '--host', 'local'], { cwd: root, encoding: 'utf8' });
  console.log(plan.stdout.split('\n').slice(0, 12).join('\n') + '\n   … (bg plan prints every command in full)');

  say('bg run backup --host local');
  const code = await bgRun(['run', 'backup', '--host', 'local']);

  say('Result');
  for (const f of readdirSync(join(root, 'backups')).filter((f) => f.endsWith('.db'))) {
    const path = join(root, 'backups', f);
    const check = execFileSync('sqlite3', [path, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim();
    const rows = execFileSync('sqlite3', [path, 'SELECT count(*) FROM time_entries'], { encoding: 'utf8' }).trim();
    console.log(`  ${f}: integrity_check=${check}, ${rows} rows`);
  }
  const runs = readdirSync(join(root, 'journal', 'runs'));
  console.log(`  journal: ${join(root, 'journal', 'runs', runs[0])}/{plan.json,log}`);
  console.log(code === 0 ? '\nDemo done: both databases backed up and verified, both envs healthy.' : `\nbg exited ${code}`);
  process.exitCode = code ?? 1;
} finally {
  cleanup();
  if (keep) console.log(`(kept ${root})`);
}
