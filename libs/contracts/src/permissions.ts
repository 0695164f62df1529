/**
 * The permission strings roles, API keys and server sub-users hold.
 * Every REST route and socket event is guarded by one of these.
 */
export const PERMISSIONS = {
  'users.read': 'See users',
  'users.manage': 'Create, change, disable and delete users',
  'roles.read': 'See roles',
  'roles.manage': 'Create, change and delete roles',
  'apikeys.manage': 'Create and revoke API keys and service accounts of anyone',
  'nodes.read': 'See nodes, their spec and usage',
  'nodes.manage': 'Create, change, drain and delete nodes',
  'servers.read': 'See every server (owners always see their own)',
  'servers.create': 'Create servers',
  'servers.manage': 'Change and delete any server',
  'servers.power': 'Start, stop, restart and kill servers',
  'servers.console': 'Read the console and send commands',
  'templates.read': 'See templates',
  'templates.manage': 'Create, change and delete templates',
  'jobs.run': 'Run one-off jobs',
  'jobs.read': 'See every job',
  'files.read': 'Read files',
  'files.write': 'Write files',
  'files.delete': "Delete a server's files",
  'files.archive': "Compress and extract archives of a server's files",
  'files.admin': "Set users' storage quotas and see storage statistics",
  'backups.read': "See a server's backups and download them",
  'backups.create': 'Take backups of a server',
  'backups.restore': "Restore a server's files from a backup",
  'backups.delete': "Delete a server's backups",
  'events.read': 'Read the raw event feed',
  'audit.read': 'Read the audit log',
  'integrations.manage': 'Issue NATS credentials for integrators',
  'metrics.read': 'Read usage metrics',
  'metrics.ingest': "Send external agents' pings, data and byes (seed 002)",
  'alerts.manage': 'Create, change and delete alert rules',
  'plugins.manage': 'Install, configure and remove plugins',
  'system.health': 'See detailed system health',
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(value: string): value is Permission {
  return Object.prototype.hasOwnProperty.call(PERMISSIONS, value);
}

/** Permissions of the built-in `user` role: run and use your own servers. */
export const DEFAULT_USER_PERMISSIONS: Permission[] = [
  'nodes.read',
  'templates.read',
  'servers.create',
  'servers.power',
  'servers.console',
  'jobs.run',
  'files.read',
  'files.write',
  'files.delete',
  'files.archive',
  'backups.read',
  'backups.create',
  'backups.restore',
  'backups.delete',
];

/** Groups for pickers: the area is the part before the dot. */
export function permissionArea(permission: Permission): string {
  return permission.split('.')[0];
}
