import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { pm2App } from '../pm2-sh.js';
import { toolPresent } from '../preflight.js';
import { shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { releaseApp } from './release-common.js';

const params = z
  .object({
    /** Tries (1 s apart) of the color's health URL. */
    health_tries: z.number().int().min(1).max(600).default(15),
    /** The app's pm2 pids and restart count must not change for this long (0: skip). */
    stable_for: duration.default(3000),
    /** Commands run on the host after the checks, e.g. against the preview port; any failure stops the release. */
    smoke: z.array(z.string().min(1)).default([]),
  })
  .strict();

/**
 * The released color before it gets traffic: its own health URL answers 2xx, its pm2 app stays
 * up with an unchanged restart count, then the smoke commands. Read-only.
 */
export const releaseGateAction: ActionDef<z.output<typeof params>> = {
  name: 'release-gate',
  summary: 'gate the released color: health, pm2 restart count stable, smoke commands',
  env: 'required',
  shellTemplates: ['smoke'],
  params,
  build({ params: p, env }) {
    if (!env?.health) throw new PlanProblem(`env \`${env?.name}\` has no \`health\` URL: the release is gated on it`, ['env']);
    const app = pm2App(releaseApp(env), ['env'], `env ${env.name}'s app in the inventory`);
    const secs = String(Math.round(p.stable_for) / 1000);
    return {
      mutates: false,
      preflight: [toolPresent('curl')],
      run: [
        { cmd: call('bg_release_gate', shellQuote(env.health), String(p.health_tries), shellQuote(app), secs), label: `${env.name} healthy, ${app} online and stable for ${secs} s` },
        ...p.smoke.map((cmd, i) => ({ cmd, label: `smoke ${i + 1}` })),
      ],
      verify: [],
      undoNote: 'read-only',
    };
  },
};
