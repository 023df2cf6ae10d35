/** One shell command line, exactly as it will run on the host. */
export interface Command {
  cmd: string;
  /** Short human description for progress output. */
  label?: string;
  timeoutMs?: number;
  /** A pre-flight check's exit status meaning "a service the run needs could not be reached or authenticated": the run exits 5, not 1. */
  unreachableExit?: number;
  /** Its whole stdout is the step's report (db-inspect): shown in full under the step, not only its last line. */
  report?: boolean;
}

export interface RetryPolicy {
  attempts: number;
  intervalMs: number;
  /** Each wait is the previous one times this factor, capped at maxIntervalMs. */
  factor: number;
  maxIntervalMs: number;
}

/** A read-only command that must exit 0 for the step to count as done. */
export interface Probe extends Command {
  retry?: RetryPolicy;
}

/**
 * A pre-flight check that bg decides itself from what a read-only command prints. The one kind:
 * lint the migrations pending on the host (the command prints every migration file, marked
 * applied or pending) and stop before anything changes if one would break the running version.
 */
export interface Gate {
  kind: 'lint-migrations';
  cmd: string;
  label: string;
  dialect: 'sqlite' | 'postgres';
  /** Breaking findings are reported but let through without `--allow-breaking` (a maintenance
   *  window: no old version runs while the migration does); recorded in run.json with the plan. */
  allowBreaking?: true;
}

/** One concrete step of a plan: everything the executor needs, nothing it must decide. */
export interface PlanStep {
  /** 1-based position in the plan. */
  index: number;
  name: string;
  action: string;
  env?: string;
  /** Whether the step changes state on the host (and so is journaled and undone). */
  mutates: boolean;
  /** Read-only commands that save what undo needs, run before `run`. */
  capture: Command[];
  run: Command[];
  verify: Probe[];
  undo: Command[];
  /**
   * Read-only commands that print what undoing this step would throw away (e.g. rows written
   * after the backup it restores); empty output means nothing. `bg rollback` shows it and asks
   * for --accept-data-loss.
   */
  discardCheck?: Command[];
  /** Why there is no undo, when there is none (shown by dry-run and rollback). */
  undoNote?: string;
  /**
   * A file the step made on the host, copied to the machine running bg after the step's verify
   * passed (backup's `copy_to`). The executor runs `cmd` (it prints a header with the file's
   * sha256 and size, then its bytes), checks the bytes, and writes `local` atomically.
   */
  download?: Download;
  /**
   * Undo this step after every other step of the run, not in newest-first order: a restart must
   * see the files and environment that the other undos put back.
   */
  undoLast?: boolean;
}

/** A host file copied to this machine: `cmd` sends it (src/remote/offhost.sh), `local` is where it goes (as given: `~` and relative paths are resolved by the executor). */
export interface Download {
  cmd: string;
  remote: string;
  local: string;
  label: string;
}

/** A file or directory of the machine running bg, sent to the host as a tar archive at `remote`. */
export interface Upload {
  local: string;
  remote: string;
}

export interface PlanHost {
  name: string;
  transport: 'local' | 'ssh';
  /** user@host:port for ssh hosts, "this machine" for local. */
  target: string;
}

/** A plan is plain data: printed by dry-run, asserted on by tests, run by the executor. */
export interface Plan {
  version: 1;
  runId: string;
  playbook: { name: string; file: string; description?: string };
  host: PlanHost;
  /** Directory on the host holding this run's journal (a shell word, already quoted). */
  journalDir: string;
  vars: Record<string, string>;
  /**
   * Read-only checks run before anything changes (and by `bg plan --check`): tools present,
   * databases intact, apps and paths there, disk space. Each carries a label naming the check.
   */
  preflight: Command[];
  /** Pre-flight checks that bg judges (see Gate). */
  gates: Gate[];
  /** Secrets the commands refer to ("$BG_SECRET_NAME"), with the environment variable each comes from (null: inline in the inventory or playbook). Values are never in a plan. */
  secrets: Record<string, string | null>;
  steps: PlanStep[];
  /**
   * Files on the machine running bg that `bg run` streams to the host (over the connection it
   * already has) before the pre-flight checks, e.g. a release's tarball: `local` as given, `remote`
   * a host path. Absent when there are none.
   */
  uploads?: Upload[];
  /** Why the plan stops before the rest of the playbook (e.g. a release on a host without a proxy). */
  endedEarly?: string;
  /**
   * The remote library (src/remote/*.sh) the commands call, by sha256: set when the run is
   * journaled (run.json), so that `bg rollback` of this run sources the same code. Absent in plans
   * of bg versions before the library: their commands carry their own functions.
   */
  library?: { hash: string };
}
