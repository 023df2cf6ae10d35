import type { ActionDef } from '../action.js';
import { shellQuote } from '../quote.js';
import { switchAction } from './switch.js';

/**
 * The switch action (same parameters) on a host with a proxy. On a host without one, a step that
 * says so, and the plan ends there: the color is released and checked on its own port.
 */
export const releaseSwitchAction: ActionDef<Parameters<typeof switchAction.build>[0]['params']> = {
  ...switchAction,
  name: 'release-switch',
  summary: 'switch live to the released color (the switch action); without a proxy, end the release here',
  build(input) {
    if (input.host.proxy) return switchAction.build(input);
    const env = input.env!;
    const why = `host ${input.host.name} has no proxy: nothing to switch; the release ends here (${env.name} runs it${env.port ? ` on port ${env.port}` : ''})`;
    return { mutates: false, run: [{ cmd: `printf '%s\\n' ${shellQuote(why)}`, label: 'no proxy' }], verify: [], undoNote: 'read-only', endsPlaybook: why };
  },
};
