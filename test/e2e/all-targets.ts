import { localTarget, sshTarget, type Target } from './targets.js';

/** The hosts every core e2e scenario runs on: this machine, and over a real sshd. */
export function targets(): Target[] {
  return [localTarget, sshTarget()];
}
