#!/usr/bin/env node
// The example app's dependencies (examples/app: pm2, pg, better-sqlite3 built from source),
// installed with the project: `npm ci` runs this as the last part of `prepare`. The demo and the
// tests deploy that app, and better-sqlite3's build (about a minute here: no prebuilt binary can be
// fetched) belongs to installing, not to every `npm test`. Skipped when the modules are there and
// load (test/harness/pm2.ts makes the same check before it deploys, and installs them if missing).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const app = fileURLToPath(new URL('../examples/app/', import.meta.url));
// A packed bg-deploy has no example app; BG_SKIP_EXAMPLE_APP=1 leaves it to the first test or demo.
if (!existsSync(`${app}package.json`) || process.env.BG_SKIP_EXAMPLE_APP === '1') process.exit(0);
const installed = ['node_modules/.bin/pm2', 'node_modules/better-sqlite3/package.json', 'node_modules/pg/package.json'].every((f) => existsSync(app + f));
const loads = () => spawnSync(process.execPath, ['--input-type=module', '-e', "import D from 'better-sqlite3'; new D(':memory:').close();"], { cwd: app, stdio: 'ignore' }).status === 0;
if (installed && loads()) process.exit(0);
console.log('examples/app: npm ci (better-sqlite3 builds from source, about a minute)');
const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: app, stdio: 'inherit' });
process.exit(r.status ?? 1);
