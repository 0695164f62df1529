/**
 * Verbs of `cmd.users.<verb>` and `cmd.auth.<verb>` (build subjects with `Subjects.command`).
 * Queries share the scheme (`cmd.users.get`).
 */
export const UsersVerbs = {
  create: 'create',
  update: 'update',
  delete: 'delete',
  get: 'get',
  list: 'list',
  setPicture: 'set_picture',
  getPicture: 'get_picture',
  roleCreate: 'role_create',
  roleUpdate: 'role_update',
  roleDelete: 'role_delete',
  roleGet: 'role_get',
  roleList: 'role_list',
  sshKeyAdd: 'ssh_key_add',
  sshKeyRemove: 'ssh_key_remove',
  sshKeyList: 'ssh_key_list',
} as const;

export const AuthVerbs = {
  login: 'login',
  loginVerify: 'login_verify',
  registerInit: 'register_init',
  registerVerify: 'register_verify',
  refresh: 'refresh',
  logout: 'logout',
  jwks: 'jwks',
  setCredentials: 'set_credentials',
  deleteCredentials: 'delete_credentials',
  checkPassword: 'check_password',
  apiKeyCreate: 'apikey_create',
  apiKeyList: 'apikey_list',
  apiKeyGet: 'apikey_get',
  apiKeyRevoke: 'apikey_revoke',
  apiKeyResolve: 'apikey_resolve',
  /** An agent checks an SFTP password login (libs/contracts fleet/sftp.ts). */
  sftpLogin: 'sftp_login',
  /** An agent re-checks an open SFTP session. */
  sftpAccess: 'sftp_access',
} as const;
