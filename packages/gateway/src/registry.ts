/**
 * Client registry: OAuth clients, the tenants each may act for, their secrets (scrypt digests only),
 * and the tenant → provider overrides made through the admin API. SQLite (`node:sqlite`) in the data
 * directory, WAL mode so the CLI can change clients while a gateway runs; every change is one
 * transaction.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { FhirVersion } from '@fhirwatch/contract';
import { ConcurrencyLimit } from './auth-throttle.ts';
import { GatewayError } from './errors.ts';
import {
  DEFAULT_SCRYPT_PARAMS,
  generateSalt,
  generateSecret,
  hashSecret,
  type ScryptParams,
  verifySecret,
} from './secrets.ts';
import { normalizeTenantId } from './tenant-id.ts';
import type { TenantProvider } from './types.ts';
import { VerificationCache, type VerificationCacheEntry, type VerificationCacheOptions } from './verification-cache.ts';

export const REGISTRY_FILE = 'registry.sqlite';

export interface SecretInfo {
  secretId: string;
  createdAt: string;
  /** End of the grace period after a rotation; null while the secret has no end. */
  expiresAt: string | null;
  revokedAt: string | null;
  active: boolean;
}

export interface ClientInfo {
  clientId: string;
  name: string;
  tenants: string[];
  createdAt: string;
  secrets: SecretInfo[];
}

/** Returned once, when a secret is created: the registry keeps only its digest. */
export interface IssuedSecret {
  clientId: string;
  clientSecret: string;
  secretId: string;
  tenants: string[];
}

export interface AuthenticatedClient {
  clientId: string;
  secretId: string;
  tenants: string[];
}

/** State of a token's client, secret and tenant, checked on every FHIR request. */
export type GrantState = 'ok' | 'revoked' | 'not-bound';

export interface TenantOverride {
  tenantId: string;
  /** Absent when the tenant was deleted through the admin API (hides a config-file tenant). */
  provider?: Required<TenantProvider>;
}

interface SecretRow {
  secret_id: string;
  salt: Uint8Array;
  digest: Uint8Array;
  params: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS client_tenants (
  client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL,
  PRIMARY KEY (client_id, tenant_id)
) STRICT;
CREATE TABLE IF NOT EXISTS client_secrets (
  secret_id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
  salt BLOB NOT NULL,
  digest BLOB NOT NULL,
  params TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS client_secrets_by_client ON client_secrets(client_id);
CREATE TABLE IF NOT EXISTS tenants (
  tenant_id TEXT PRIMARY KEY,
  base_url TEXT,
  fhir_version TEXT,
  timeout_ms INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
) STRICT;
`;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function isActive(row: Pick<SecretRow, 'expires_at' | 'revoked_at'>, now: number): boolean {
  return row.revoked_at === null && (row.expires_at === null || row.expires_at > now);
}

function tenantList(tenants: readonly string[]): string[] {
  const out = new Set<string>();
  for (const tenant of tenants) {
    const id = normalizeTenantId(tenant);
    if (id === undefined) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'tenant ids are GUIDs');
    out.add(id);
  }
  return [...out];
}

export interface ClientRegistryOptions {
  /** Directory of `registry.sqlite` (created when missing). */
  dataDir: string;
  /** scrypt cost of new secrets. Default DEFAULT_SCRYPT_PARAMS. */
  scrypt?: ScryptParams;
  /**
   * Positive verification cache (see verification-cache.ts): a secret scrypt accepted skips scrypt
   * for `ttlSeconds` (default 300) while it stays active. `false` turns it off.
   */
  verificationCache?: VerificationCacheOptions | false;
  /**
   * `authenticate` runs at most this many scrypt verifications at once (default min(4, cores)) and
   * lets at most `scryptQueue` more wait (default 32); past that it throws FW_GATEWAY_AUTH_BUSY.
   */
  scryptConcurrency?: number;
  scryptQueue?: number;
}

/** Counters since the registry was opened. */
export interface RegistryStats {
  /** scrypt computations, all causes (new secrets, verifications, the unknown-client dummy). */
  scryptRuns: number;
  /** Authentications answered from the verification cache (no scrypt). */
  cacheHits: number;
  /** Authentications refused with FW_GATEWAY_AUTH_BUSY. */
  busyRejections: number;
  /** Entries in the verification cache now. */
  cacheEntries: number;
}

export class ClientRegistry {
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #scrypt: ScryptParams;
  readonly #grantCheck: StatementSync;
  readonly #secretsOf: StatementSync;
  readonly #tenantsOf: StatementSync;
  readonly #cache: VerificationCache | undefined;
  readonly #scryptLimit: ConcurrencyLimit;
  #scryptRuns = 0;
  #cacheHits = 0;
  #busyRejections = 0;
  /** Digest compared when the client id is unknown, so that case costs one scrypt too. */
  #dummy: { salt: Buffer; digest: Buffer; params: ScryptParams } | undefined;

  constructor(options: ClientRegistryOptions) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    this.file = join(options.dataDir, REGISTRY_FILE);
    this.#scrypt = options.scrypt ?? DEFAULT_SCRYPT_PARAMS;
    this.#cache = options.verificationCache === false ? undefined : new VerificationCache(options.verificationCache);
    this.#scryptLimit = new ConcurrencyLimit(
      options.scryptConcurrency ?? Math.min(4, availableParallelism()),
      options.scryptQueue ?? 32,
    );
    this.#db = new DatabaseSync(this.file);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;');
    this.#db.exec(SCHEMA);
    this.#grantCheck = this.#db.prepare(
      `SELECT s.expires_at, s.revoked_at,
              EXISTS (SELECT 1 FROM client_tenants t WHERE t.client_id = s.client_id AND t.tenant_id = ?) AS bound
         FROM client_secrets s WHERE s.secret_id = ? AND s.client_id = ?`,
    );
    this.#secretsOf = this.#db.prepare(
      'SELECT secret_id, salt, digest, params, created_at, expires_at, revoked_at FROM client_secrets WHERE client_id = ? ORDER BY created_at, secret_id',
    );
    this.#tenantsOf = this.#db.prepare('SELECT tenant_id FROM client_tenants WHERE client_id = ? ORDER BY tenant_id');
  }

  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  async #newSecret(): Promise<{ secret: string; salt: Buffer; digest: Buffer }> {
    const secret = generateSecret();
    const salt = generateSalt();
    this.#scryptRuns += 1;
    return { secret, salt, digest: await hashSecret(secret, salt, this.#scrypt) };
  }

  #verify(secret: string, stored: { salt: Buffer; digest: Buffer; params: ScryptParams }): Promise<boolean> {
    this.#scryptRuns += 1;
    return verifySecret(secret, stored);
  }

  #insertSecret(clientId: string, secretId: string, salt: Buffer, digest: Buffer, now: number): void {
    this.#db
      .prepare(
        'INSERT INTO client_secrets (secret_id, client_id, salt, digest, params, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(secretId, clientId, salt, digest, JSON.stringify(this.#scrypt), now);
  }

  #requireClient(clientId: string): void {
    if (this.#db.prepare('SELECT 1 FROM clients WHERE client_id = ?').get(clientId) === undefined) {
      throw new GatewayError('FW_GATEWAY_CLIENT_NOT_FOUND', 'no such client');
    }
  }

  /** Create a client bound to `tenants`; the secret is in the result and nowhere else. */
  async createClient(options: { tenants: readonly string[]; name?: string }): Promise<IssuedSecret> {
    const tenants = tenantList(options.tenants);
    if (tenants.length === 0) throw new GatewayError('FW_GATEWAY_TENANT_INVALID', 'a client needs at least one tenant');
    const clientId = randomUUID();
    const secretId = randomUUID();
    const { secret, salt, digest } = await this.#newSecret();
    const now = Date.now();
    this.#transaction(() => {
      this.#db
        .prepare('INSERT INTO clients (client_id, name, created_at) VALUES (?, ?, ?)')
        .run(clientId, options.name ?? '', now);
      const bind = this.#db.prepare('INSERT INTO client_tenants (client_id, tenant_id) VALUES (?, ?)');
      for (const tenant of tenants) bind.run(clientId, tenant);
      this.#insertSecret(clientId, secretId, salt, digest, now);
    });
    return { clientId, clientSecret: secret, secretId, tenants };
  }

  /**
   * New secret for `clientId`. The current secrets keep working until revoked, or, with
   * `graceSeconds`, until the grace period ends.
   */
  async rotateSecret(clientId: string, options: { graceSeconds?: number } = {}): Promise<IssuedSecret> {
    this.#requireClient(clientId);
    const secretId = randomUUID();
    const { secret, salt, digest } = await this.#newSecret();
    const now = Date.now();
    this.#transaction(() => {
      this.#requireClient(clientId);
      if (options.graceSeconds !== undefined) {
        const end = now + Math.max(0, options.graceSeconds) * 1000;
        this.#db
          .prepare(
            `UPDATE client_secrets SET expires_at = ?
              WHERE client_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
          )
          .run(end, clientId, end);
      }
      this.#insertSecret(clientId, secretId, salt, digest, now);
    });
    // The old secrets stay valid (until revoked or the grace period ends) but go through scrypt
    // again once, so their cache entries are recreated under the new expiry.
    this.#cache?.forget(clientId);
    return { clientId, clientSecret: secret, secretId, tenants: this.#tenants(clientId) };
  }

  /** Revoke one secret now (tokens issued with it stop working too). */
  revokeSecret(clientId: string, secretId: string): void {
    this.#transaction(() => {
      this.#requireClient(clientId);
      const result = this.#db
        .prepare('UPDATE client_secrets SET revoked_at = coalesce(revoked_at, ?) WHERE client_id = ? AND secret_id = ?')
        .run(Date.now(), clientId, secretId);
      if (result.changes === 0) throw new GatewayError('FW_GATEWAY_SECRET_NOT_FOUND', 'no such secret');
    });
    this.#cache?.forget(clientId, secretId);
  }

  /** Delete a client, its secrets and tenant bindings. */
  deleteClient(clientId: string): void {
    this.#transaction(() => {
      const result = this.#db.prepare('DELETE FROM clients WHERE client_id = ?').run(clientId);
      if (result.changes === 0) throw new GatewayError('FW_GATEWAY_CLIENT_NOT_FOUND', 'no such client');
    });
    this.#cache?.forget(clientId);
  }

  /** Bind or unbind tenants of an existing client. */
  setClientTenants(clientId: string, tenants: readonly string[]): ClientInfo {
    const list = tenantList(tenants);
    this.#transaction(() => {
      this.#requireClient(clientId);
      this.#db.prepare('DELETE FROM client_tenants WHERE client_id = ?').run(clientId);
      const bind = this.#db.prepare('INSERT INTO client_tenants (client_id, tenant_id) VALUES (?, ?)');
      for (const tenant of list) bind.run(clientId, tenant);
    });
    return this.getClient(clientId);
  }

  #tenants(clientId: string): string[] {
    return (this.#tenantsOf.all(clientId) as { tenant_id: string }[]).map((row) => row.tenant_id);
  }

  #info(row: { client_id: string; name: string; created_at: number }, now: number): ClientInfo {
    const secrets = (this.#secretsOf.all(row.client_id) as unknown as SecretRow[]).map((s) => ({
      secretId: s.secret_id,
      createdAt: iso(s.created_at) as string,
      expiresAt: iso(s.expires_at),
      revokedAt: iso(s.revoked_at),
      active: isActive(s, now),
    }));
    return {
      clientId: row.client_id,
      name: row.name,
      tenants: this.#tenants(row.client_id),
      createdAt: iso(row.created_at) as string,
      secrets,
    };
  }

  getClient(clientId: string): ClientInfo {
    const row = this.#db.prepare('SELECT client_id, name, created_at FROM clients WHERE client_id = ?').get(clientId) as
      | { client_id: string; name: string; created_at: number }
      | undefined;
    if (row === undefined) throw new GatewayError('FW_GATEWAY_CLIENT_NOT_FOUND', 'no such client');
    return this.#info(row, Date.now());
  }

  listClients(): ClientInfo[] {
    const now = Date.now();
    const rows = this.#db
      .prepare('SELECT client_id, name, created_at FROM clients ORDER BY created_at, client_id')
      .all();
    return (rows as { client_id: string; name: string; created_at: number }[]).map((row) => this.#info(row, now));
  }

  #activeSecrets(clientId: string, now: number): SecretRow[] {
    return (this.#secretsOf.all(clientId) as unknown as SecretRow[]).filter((row) => isActive(row, now));
  }

  /**
   * The verification cache step alone: the client if `secret` matches a cached fingerprint of one of
   * its secrets that is active now (read from the registry on every call, so a revocation or grace end
   * made by another process counts at once), else undefined. Never runs scrypt.
   */
  authenticateCached(clientId: string, secret: string, now = Date.now()): AuthenticatedClient | undefined {
    if (this.#cache === undefined || this.#cache.size === 0) return undefined;
    const rows = this.#activeSecrets(clientId, now);
    return this.#fromCache(clientId, secret, rows, now);
  }

  #fromCache(clientId: string, secret: string, rows: SecretRow[], now: number): AuthenticatedClient | undefined {
    if (this.#cache === undefined) return undefined;
    for (const row of rows) {
      if (this.#cache.matches(clientId, row.secret_id, secret, now)) {
        this.#cacheHits += 1;
        return { clientId, secretId: row.secret_id, tenants: this.#tenants(clientId) };
      }
    }
    return undefined;
  }

  /**
   * Check a client id and secret. A secret that matches the verification cache for one of the
   * client's active secrets is accepted without scrypt. Otherwise every active secret of the client is
   * hashed and compared (no exit at the first match), and an unknown client id costs one scrypt
   * against a dummy digest, so the answer time does not tell which part was wrong. The scrypt step
   * runs under the concurrency limit (FW_GATEWAY_AUTH_BUSY when its queue is full).
   */
  async authenticate(clientId: string, secret: string): Promise<AuthenticatedClient | undefined> {
    const now = Date.now();
    const cached = this.#fromCache(clientId, secret, this.#activeSecrets(clientId, now), now);
    if (cached !== undefined) return cached;
    let matched: SecretRow | undefined;
    try {
      matched = await this.#scryptLimit.run(async () => {
        // Read again: the secrets may have changed while this request waited for a slot.
        const started = Date.now();
        const rows = this.#activeSecrets(clientId, started);
        if (rows.length === 0) {
          this.#dummy ??= await this.#makeDummy();
          await this.#verify(secret, this.#dummy);
          return undefined;
        }
        let found: SecretRow | undefined;
        for (const row of rows) {
          const ok = await this.#verify(secret, {
            salt: Buffer.from(row.salt),
            digest: Buffer.from(row.digest),
            params: JSON.parse(row.params) as ScryptParams,
          });
          if (ok && found === undefined) found = row;
        }
        return found;
      });
    } catch (error) {
      if (error instanceof GatewayError && error.code === 'FW_GATEWAY_AUTH_BUSY') this.#busyRejections += 1;
      throw error;
    }
    if (matched === undefined) return undefined;
    // Only a secret scrypt accepted is remembered, and never past its grace end.
    this.#cache?.remember(
      clientId,
      matched.secret_id,
      secret,
      Date.now(),
      matched.expires_at ?? Number.POSITIVE_INFINITY,
    );
    return { clientId, secretId: matched.secret_id, tenants: this.#tenants(clientId) };
  }

  /** Counters for tests, benches and diagnostics. */
  stats(): RegistryStats {
    return {
      scryptRuns: this.#scryptRuns,
      cacheHits: this.#cacheHits,
      busyRejections: this.#busyRejections,
      cacheEntries: this.#cache?.size ?? 0,
    };
  }

  /** Copies of the verification cache entries (fingerprints only; [] when the cache is off). */
  inspectVerificationCache(): VerificationCacheEntry[] {
    return this.#cache?.inspect() ?? [];
  }

  async #makeDummy(): Promise<{ salt: Buffer; digest: Buffer; params: ScryptParams }> {
    const salt = generateSalt();
    this.#scryptRuns += 1;
    return { salt, digest: await hashSecret(generateSecret(), salt, this.#scrypt), params: this.#scrypt };
  }

  /** Is the secret behind a token still active, and is its client still bound to the tenant? */
  grantState(clientId: string, secretId: string, tenantId: string, now = Date.now()): GrantState {
    const row = this.#grantCheck.get(tenantId, secretId, clientId) as
      | { expires_at: number | null; revoked_at: number | null; bound: number }
      | undefined;
    if (row === undefined || !isActive(row, now)) return 'revoked';
    return row.bound === 1 ? 'ok' : 'not-bound';
  }

  /** Tenant changes made through the admin API (they override the config file). */
  tenantOverrides(): TenantOverride[] {
    const rows = this.#db
      .prepare('SELECT tenant_id, base_url, fhir_version, timeout_ms, deleted FROM tenants ORDER BY tenant_id')
      .all() as {
      tenant_id: string;
      base_url: string | null;
      fhir_version: string | null;
      timeout_ms: number | null;
      deleted: number;
    }[];
    return rows.map((row) =>
      row.deleted === 1 || row.base_url === null
        ? { tenantId: row.tenant_id }
        : {
            tenantId: row.tenant_id,
            provider: {
              baseUrl: row.base_url,
              fhirVersion: row.fhir_version as FhirVersion,
              timeoutMs: row.timeout_ms ?? 10_000,
            },
          },
    );
  }

  putTenant(tenantId: string, provider: Required<TenantProvider>): void {
    this.#transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO tenants (tenant_id, base_url, fhir_version, timeout_ms, deleted, updated_at) VALUES (?, ?, ?, ?, 0, ?)
           ON CONFLICT (tenant_id) DO UPDATE SET base_url = excluded.base_url, fhir_version = excluded.fhir_version,
             timeout_ms = excluded.timeout_ms, deleted = 0, updated_at = excluded.updated_at`,
        )
        .run(tenantId, provider.baseUrl, provider.fhirVersion, provider.timeoutMs, Date.now());
    });
  }

  deleteTenant(tenantId: string): void {
    this.#transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO tenants (tenant_id, deleted, updated_at) VALUES (?, 1, ?)
           ON CONFLICT (tenant_id) DO UPDATE SET base_url = NULL, fhir_version = NULL, timeout_ms = NULL, deleted = 1,
             updated_at = excluded.updated_at`,
        )
        .run(tenantId, Date.now());
    });
  }

  close(): void {
    this.#cache?.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Open (or create) the registry of a data directory. */
export function openClientRegistry(options: ClientRegistryOptions): ClientRegistry {
  return new ClientRegistry(options);
}
