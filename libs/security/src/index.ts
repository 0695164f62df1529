export { hasPermission, PRINCIPAL_RESOLVER, type Principal, type PrincipalResolver } from './principal';
export { Authenticated, CurrentPrincipal, PermissionGuard, Public, RequirePermission } from './permission.guard';
export { hashPassword, passwordHashOptions, verifyPassword, type PasswordHashOptions } from './passwords';
export { WorkQueue, type WorkQueueOptions } from './work-queue';
export { parseSshPublicKey, sshKeyFingerprint, type SshPublicKey } from './ssh-keys';
export {
  generateApiKey,
  generateOtpCode,
  generatePassword,
  generateRefreshToken,
  hashApiKey,
  hashOtpCode,
  looksLikeApiKey,
  safeEqualHex,
  sha256Hex,
} from './secrets';
export {
  ACCESS_TOKEN_ALGORITHM,
  ACCESS_TOKEN_TTL_SECONDS,
  AccessTokenVerifier,
  bearerToken,
  TOKEN_ISSUER,
  type AccessTokenClaims,
  type Jwks,
  type PublicJwk,
} from './access-tokens';
