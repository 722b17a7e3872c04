export type { AdminDeps } from './admin.ts';
export { adminAuthorized } from './admin.ts';
export { DEFAULT_TIMEOUT_MS, loadGatewayConfig, validateTenant } from './config.ts';
export type { GatewayErrorCode, OAuthErrorCode } from './errors.ts';
export { GATEWAY_ERRORS, GatewayError, OAUTH_ERRORS } from './errors.ts';
export { parseForm } from './form.ts';
export { createGateway } from './gateway.ts';
export { tenantFromScope } from './oauth.ts';
export { responseBody } from './proxy.ts';
export type {
  AuthenticatedClient,
  ClientInfo,
  ClientRegistryOptions,
  GrantState,
  IssuedSecret,
  SecretInfo,
} from './registry.ts';
export { ClientRegistry, openClientRegistry, REGISTRY_FILE } from './registry.ts';
export type { Target } from './routes.ts';
export { parseTarget } from './routes.ts';
export type { ScryptParams } from './secrets.ts';
export { DEFAULT_SCRYPT_PARAMS, digestsEqual, hashSecret, SECRET_DIGEST_BYTES, verifySecret } from './secrets.ts';
export type { AccessTokenClaims } from './tokens.ts';
export { SIGNING_KEY_FILE, TOKEN_ALG, TOKEN_TYP } from './tokens.ts';
export type { Gateway, GatewayOptions, RateLimitOptions, RequestLogLine, TenantProvider } from './types.ts';
