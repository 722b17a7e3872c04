export type { AdminDeps } from './admin.ts';
export { ADMIN_ROUTES, adminAuthorized } from './admin.ts';
export type { AuthThrottleSettings } from './auth-throttle.ts';
export { AUTH_THROTTLE_DEFAULTS, AuthThrottle, ConcurrencyLimit, FailureThrottle } from './auth-throttle.ts';
export type { ParseConfigOptions } from './config.ts';
export {
  DEFAULT_DATA_DIR,
  DEFAULT_TIMEOUT_MS,
  loadGatewayConfig,
  loadGatewayConfigFile,
  mergeConfig,
  parseGatewayConfig,
  parseUserIdentity,
  readConfigFile,
  rootVersionProblem,
  validateTenant,
} from './config.ts';
export type { GatewayErrorCode, OAuthErrorCode } from './errors.ts';
export { GATEWAY_ERRORS, GatewayError, OAUTH_ERRORS } from './errors.ts';
export { parseForm } from './form.ts';
export { createGateway } from './gateway.ts';
export type { InstrumentedGateway, InstrumentedGatewayOptions } from './instrumented.ts';
export { describeGateway, loadHmacKey, startInstrumentedGateway } from './instrumented.ts';
export { tenantFromScope } from './oauth.ts';
export { responseBody } from './proxy.ts';
export type {
  AuthenticatedClient,
  ClientInfo,
  ClientRegistryOptions,
  GrantState,
  IssuedSecret,
  RegistryStats,
  SecretInfo,
} from './registry.ts';
export { ClientRegistry, openClientRegistry, REGISTRY_FILE } from './registry.ts';
export type { Target } from './routes.ts';
export { parseTarget } from './routes.ts';
export type { ScryptParams } from './secrets.ts';
export { DEFAULT_SCRYPT_PARAMS, digestsEqual, hashSecret, SECRET_DIGEST_BYTES, verifySecret } from './secrets.ts';
export type { AccessTokenClaims } from './tokens.ts';
export { SIGNING_KEY_FILE, TOKEN_ALG, TOKEN_TYP } from './tokens.ts';
export type {
  AuditConfig,
  AuthThrottleOptions,
  Gateway,
  GatewayConfig,
  GatewayOptions,
  RateLimitOptions,
  RequestLogLine,
  TelemetryConfig,
  TenantProvider,
  UserIdentity,
  VerificationCacheOptions,
} from './types.ts';
export type { VerificationCacheEntry } from './verification-cache.ts';
export { VERIFICATION_CACHE_DEFAULTS, VerificationCache } from './verification-cache.ts';
