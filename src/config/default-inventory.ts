/**
 * The inventory used when no hosts.yaml is found: one `local` host whose envs live under
 * ./.bg-demo, so `bg run ... --host local` works on a fresh checkout (the demo uses it).
 */
export const DEFAULT_INVENTORY_YAML = `hosts:
  local:
    local: true
    envs:
      blue:
        dir: .bg-demo/TimeTracking-BLUE/server
        app: timetracking-server
        port: 3000
        db: database.db
        health: http://127.0.0.1:3000/api/health
        migrate: npm run migrate:prod
      green:
        dir: .bg-demo/TimeTracking-GREEN/server
        app: timetracking-green
        port: 3001
        db: database.db
        health: http://127.0.0.1:3001/api/health
        migrate: npm run migrate:prod
    shared_db: .bg-demo/database-shared.db
    backups: { dir: .bg-demo/backups, keep: 20 }
    journal: .bg-demo/journal
`;
