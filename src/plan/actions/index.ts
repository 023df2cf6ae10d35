import type { ActionDef } from '../action.js';
import { backupAction } from './backup.js';
import { healthAction } from './health.js';
import { shellAction } from './shell.js';

/** Every built-in action by name. Adding an action means adding it here. */
export const ACTIONS: Record<string, ActionDef<any>> = Object.fromEntries(
  [shellAction, backupAction, healthAction].map((a) => [a.name, a]),
);
