import { fileURLToPath } from 'node:url';
import { it } from 'vitest';
import { median, report, timeCommand, times } from './stats.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 10;

// Issue 2: cold start of `bg --version` and of `bg plan` on the example inventory.
it('cold start', async () => {
  const measure = async (args: string[]) => {
    await timeCommand('node', ['bin/bg.js', ...args], { cwd: repo }); // warm the file cache once
    return times(RUNS, () => timeCommand('node', ['bin/bg.js', ...args], { cwd: repo }));
  };
  const version = await measure(['--version']);
  const plan = await measure(['plan', 'phase1', '--host', 'prod', '-i', 'hosts.example.yaml']);
  const nodeOnly = await times(RUNS, () => timeCommand('node', ['-e', '0']));
  report('cold-start', {
    runs: RUNS,
    node: process.version,
    'node -e 0 (ms, median)': Math.round(median(nodeOnly)),
    'bg --version (ms, median)': Math.round(median(version)),
    'bg plan phase1 --host prod -i hosts.example.yaml (ms, median)': Math.round(median(plan)),
  });
});
