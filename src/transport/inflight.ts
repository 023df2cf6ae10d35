// Every command bg has running on a host, as a way to stop it hard. A second Ctrl-C (or a
// SIGTERM after the first) quits bg at once; before it goes, whatever it started must not keep
// running unattended: locally its process group is killed, over SSH the channel gets KILL.

type Kill = () => void;

const running = new Set<Kill>();

/** Register a running command's hard stop; call the returned function when it has ended. */
export function trackInFlight(kill: Kill): () => void {
  running.add(kill);
  return () => running.delete(kill);
}

/** How many commands are running now (for messages). */
export function inFlightCount(): number {
  return running.size;
}

/** Kill every running command at once (best effort: each kill swallows its own errors). */
export function killInFlight(): number {
  const n = running.size;
  for (const kill of [...running]) {
    try {
      kill();
    } catch {
      // gone already
    }
  }
  running.clear();
  return n;
}
