// The built-in playbooks phase1, phase2, env and drift, planned for the fixture host `prod`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { plan, problems } from './actions-helpers.js';

const builtin = (name: string) => readFileSync(new URL(`../../playbooks/${name}.yaml`, import.meta.url), 'utf8');
const outline = (p: ReturnType<typeof plan>) => p.steps.map((s) => `${s.index}. ${s.action}${s.env ? ` ${s.env}` : ''}: ${s.name}`);

describe('built-in playbooks', () => {
  it('phase1: back up both, migrate GREEN, check it, migrate BLUE, check it', () => {
    expect(outline(plan(builtin('phase1')))).toEqual([
      '1. backup blue: Back up both databases (blue)',
      '2. backup green: Back up both databases (green)',
      '3. migrate green: Migrate GREEN',
      '4. health green: GREEN answers its health check',
      '5. migrate blue: Migrate BLUE',
      '6. health blue: BLUE answers its health check',
    ]);
  });

  it('phase2: inspect, same schemas, back up, share, check both; base passes through', () => {
    const p = plan(builtin('phase2'), { vars: { base: 'green' } });
    expect(outline(p)).toEqual([
      '1. db-inspect: Inspect both databases',
      '2. schema-check: Both schemas match',
      '3. backup blue: Back up both databases (blue)',
      '4. backup green: Back up both databases (green)',
      '5. share-db: Move BLUE and GREEN onto the shared database',
      '6. health blue: Both envs answer their health check (blue)',
      '7. health green: Both envs answer their health check (green)',
    ]);
    expect(p.steps[0]!.run[0]!.cmd).toMatch(/^bg_db_inspect green /);
    expect(p.steps[4]!.run[1]!.cmd).toMatch(/^bg_share_copy green 1 /);
    expect(plan(builtin('phase2')).steps[4]!.run[1]!.cmd).toMatch(/^bg_share_copy auto 1 /);
    expect(problems(builtin('phase2'), { vars: { base: 'purple' } })).toEqual([
      expect.stringMatching(/steps\.0\.with\.base: `base` must be auto or one of blue, green/),
      expect.stringMatching(/steps\.3\.with\.base: `base` must be auto or one of blue, green/),
    ]);
  });

  it('env: key and value are required; GREEN then BLUE by default, or the envs given', () => {
    expect(problems(builtin('env'))).toEqual([
      expect.stringMatching(/vars\.key: variable `key` is required: pass --var key=VALUE/),
      expect.stringMatching(/vars\.value: variable `value` is required: pass --var value=VALUE/),
    ]);
    const p = plan(builtin('env'), { vars: { key: 'ALLOWED_ORIGINS', value: "https://a.example,x'; rm -rf /" } });
    expect(outline(p)).toEqual([
      '1. env-set green: Set ALLOWED_ORIGINS in the .env of green',
      '2. env-set blue: Set ALLOWED_ORIGINS in the .env of blue',
      '3. pm2 green: Restart green with --update-env',
      '4. pm2 blue: Restart blue with --update-env',
      '5. health green: green answers its health check',
      '6. health blue: blue answers its health check',
    ]);
    expect(p.steps[0]!.run[0]!.cmd).toMatch(/^bg_env_set .* ALLOWED_ORIGINS 'ALLOWED_ORIGINS="https:\/\/a\.example,x'\\''; rm -rf \/"'$/);
    expect(p.steps[2]!.run[0]!.cmd).toBe('bg_pm2_op restart timetracking-green --update-env');
    const one = plan(builtin('env'), { vars: { key: 'A', value: 'b', envs: 'blue' } });
    expect(one.steps.map((s) => s.env)).toEqual(['blue', 'blue', 'blue']);
    expect(problems(builtin('env'), { vars: { key: 'A', value: 'b', envs: 'blue,purple' } })).toEqual(
      expect.arrayContaining([expect.stringMatching(/steps\.0\.envs: unknown env `purple` \(host has: blue, green\)/)]),
    );
  });

  it('drift: one schema check of BLUE against GREEN', () => {
    const p = plan(builtin('drift'));
    expect(outline(p)).toEqual(['1. schema-check: BLUE and GREEN have the same schema and migrations']);
    expect(p.steps[0]!.mutates).toBe(false);
  });
});
