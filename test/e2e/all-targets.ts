import { localTarget, type Target } from './targets.js';

/** The hosts every e2e scenario runs on. */
export function targets(): Target[] {
  return [localTarget];
}
