import type { ActionDef } from '../action.js';
import { backupAction } from './backup.js';
import { dbInspectAction } from './db-inspect.js';
import { envSetAction } from './env-set.js';
import { healthAction } from './health.js';
import { migrateAction } from './migrate.js';
import { pm2Action } from './pm2.js';
import { restoreAction } from './restore.js';
import { schemaCheckAction } from './schema-check.js';
import { shareDbAction } from './share-db.js';
import { shellAction } from './shell.js';
import { symlinkAction } from './symlink.js';
import { proxyConfigAction } from './proxy-config.js';
import { switchAction } from './switch.js';
import { cutoverAction } from './cutover.js';
import { releaseFetchAction } from './release-fetch.js';
import { releaseLinkAction } from './release-link.js';
import { releaseStartAction } from './release-start.js';
import { releaseMigrateAction } from './release-migrate.js';
import { releaseGateAction } from './release-gate.js';
import { releaseSwitchAction } from './release-switch.js';
import { releaseWatchAction } from './release-watch.js';
import { releasePruneAction } from './release-prune.js';
import { maintenanceAction } from './maintenance.js';

/** Every built-in action by name. Adding an action means adding it here. */
export const ACTIONS: Record<string, ActionDef<any>> = Object.fromEntries(
  [shellAction, backupAction, healthAction, migrateAction, pm2Action, symlinkAction, envSetAction, schemaCheckAction, dbInspectAction, shareDbAction, restoreAction, proxyConfigAction, switchAction, cutoverAction, releaseFetchAction, releaseLinkAction, releaseMigrateAction, releaseStartAction, releaseGateAction, releasePruneAction, releaseSwitchAction, releaseWatchAction, maintenanceAction].map((a) => [a.name, a]),
);
