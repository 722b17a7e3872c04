/**
 * A Patients-app client and a bounded traffic simulator: what the Teams Patients app does against a
 * partner's FHIR service (seed: "Integrating EHR systems with the Teams Patients app"):
 * metadata → token (client credentials, tenant in scope) → patient search (POST /Patient/_search)
 * → list refresh (one batch Bundle of 7 reads per patient), with the occasional direct read,
 * Location read, bulk export kick-off and a bad token.
 *
 * Loopback only: every target must be a 127.0.0.0/8, ::1 or localhost URL. Every run is bounded by
 * both a duration and an iteration count.
 */
import type { FhirVersion } from '@fhirwatch/contract';
import {
  FHIR_JSON_MIME,
  FhirwatchError,
  listRefreshBundle,
  OAUTH_URIS_EXTENSION_URL,
  patientNameSearch,
} from '@fhirwatch/contract';
import { LOADTEST_ERRORS, type LoadtestErrorCode } from './errors.ts';
import { createRandom, type Random } from './random.ts';

export interface PatientsAppTarget {
  /** FHIR base URL of the service under test (loopback only). */
  baseUrl: string;
  /** Tenant GUID passed in the token scope. */
  tenantId: string;
  clientId: string;
  clientSecret: string;
  fhirVersion: FhirVersion;
}

export interface Clinician {
  userId: string;
  userName: string;
}

export interface TrafficOptions {
  targets: readonly PatientsAppTarget[];
  /** Concurrent virtual clinicians (default 4). */
  concurrency?: number;
  /** Stop after this long (required bound). */
  durationMs: number;
  /** Stop after this many iterations in all (default 10,000). */
  maxIterations?: number;
  /** Patients per list refresh (default 5). */
  listSize?: number;
  /** Seed of the traffic's choices (default 1). */
  seed?: number;
  /**
   * Clinicians the traffic acts for; sent as `x-fhirwatch-user-id` / `x-fhirwatch-user-name`, the
   * headers an authenticated upstream would set (the middleware trusts them only when told to).
   */
  clinicians?: readonly Clinician[];
  /** Probability per iteration of a bulk export kick-off (default 0.02). */
  exportRate?: number;
  /** Probability per iteration of a request with an invalid token (default 0.02). */
  badTokenRate?: number;
  /** Called about once a second and at the end. */
  onProgress?: (progress: TrafficProgress) => void;
  /** Abort the run early. */
  signal?: AbortSignal;
}

export interface TrafficProgress {
  elapsedMs: number;
  iterations: number;
  requests: number;
  /** Count per HTTP status (0 = network error). */
  byStatus: Record<number, number>;
  /** Batch entries answered, and those whose own status was not 2xx. */
  batchEntries: number;
  batchEntryFailures: number;
}

/** The Patients-app traffic generator's errors (codes from LOADTEST_ERRORS). */
export class PatientsAppError extends FhirwatchError<LoadtestErrorCode> {
  constructor(code: LoadtestErrorCode, message: string, options?: { cause?: unknown }) {
    super(LOADTEST_ERRORS[code], code, message, options);
    this.name = 'PatientsAppError';
  }
}

/** True for 127.0.0.0/8, ::1 and localhost URLs. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

interface Token {
  value: string;
  expiresAt: number;
}

/** One app instance for one tenant: discovers the token URL, keeps a token, sends the app's requests. */
export class PatientsAppClient {
  readonly target: PatientsAppTarget;
  readonly #base: string;
  readonly #mime: string;
  #tokenUrl: string | undefined;
  #token: Token | undefined;
  /** The token request in flight: concurrent callers share it instead of each asking /token. */
  #tokenRequest: Promise<string> | undefined;
  #onResponse: (status: number) => void;

  constructor(target: PatientsAppTarget, onResponse: (status: number) => void = () => {}) {
    if (!isLoopbackUrl(target.baseUrl)) {
      throw new PatientsAppError('FW_LOAD_NOT_LOOPBACK', 'traffic targets must be loopback addresses');
    }
    this.target = target;
    this.#base = target.baseUrl.replace(/\/+$/, '');
    this.#mime = FHIR_JSON_MIME[target.fhirVersion];
    this.#onResponse = onResponse;
  }

  async #fetch(url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      this.#onResponse(0);
      throw new PatientsAppError('FW_LOAD_NETWORK', 'request failed without a response', { cause: error });
    }
    const text = await response.text();
    this.#onResponse(response.status);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  }

  /** GET /metadata (no token) and take the token URL from the OAuth URIs extension. */
  async discover(): Promise<string> {
    const { status, body } = await this.#fetch(`${this.#base}/metadata`, { headers: { accept: this.#mime } });
    if (status !== 200) throw new PatientsAppError('FW_LOAD_METADATA', `metadata answered ${status}`);
    const security = (body as { rest?: { security?: { extension?: Extension[] } }[] }).rest?.[0]?.security;
    const oauth = security?.extension?.find((e) => e.url === OAUTH_URIS_EXTENSION_URL);
    const token = oauth?.extension?.find((e) => e.url === 'token')?.valueUri;
    if (token === undefined) throw new PatientsAppError('FW_LOAD_METADATA', 'metadata names no token URL');
    if (!isLoopbackUrl(token)) throw new PatientsAppError('FW_LOAD_NOT_LOOPBACK', 'the token URL is not loopback');
    this.#tokenUrl = token;
    return token;
  }

  /**
   * A valid access token, requested with client credentials when none is held or it is about to expire (one
   * request at a time: callers that arrive meanwhile wait for it).
   */
  async token(): Promise<string> {
    if (this.#token !== undefined && this.#token.expiresAt - Date.now() > 30_000) return this.#token.value;
    this.#tokenRequest ??= this.#requestToken().finally(() => {
      this.#tokenRequest = undefined;
    });
    return this.#tokenRequest;
  }

  async #requestToken(): Promise<string> {
    const tokenUrl = this.#tokenUrl ?? (await this.discover());
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.target.clientId,
      client_secret: this.target.clientSecret,
      scope: this.target.tenantId,
    });
    const { status, body } = await this.#fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    const token = body as { access_token?: string; expires_in?: number } | undefined;
    if (status !== 200 || typeof token?.access_token !== 'string') {
      throw new PatientsAppError('FW_LOAD_TOKEN', `token endpoint answered ${status}`);
    }
    this.#token = { value: token.access_token, expiresAt: Date.now() + (token.expires_in ?? 300) * 1000 };
    return token.access_token;
  }

  #headers(token: string, user: Clinician | undefined, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { accept: this.#mime, authorization: `Bearer ${token}`, ...extra };
    if (user !== undefined) {
      headers['x-fhirwatch-user-id'] = user.userId;
      headers['x-fhirwatch-user-name'] = user.userName;
    }
    return headers;
  }

  /** POST /Patient/_search (form-encoded), as the app's patient search does. */
  async searchPatients(params: Record<string, string>, user?: Clinician, token?: string): Promise<FhirBundle> {
    const { status, body } = await this.#fetch(`${this.#base}/Patient/_search`, {
      method: 'POST',
      headers: this.#headers(token ?? (await this.token()), user, {
        'content-type': 'application/x-www-form-urlencoded',
      }),
      body: new URLSearchParams(params).toString(),
    });
    return status === 200 ? (body as FhirBundle) : { resourceType: 'Bundle', entry: [] };
  }

  /** One list refresh: a batch Bundle of 7 reads per patient. */
  async listRefresh(patientIds: readonly string[], user?: Clinician): Promise<FhirBundle> {
    const { status, body } = await this.#fetch(`${this.#base}/`, {
      method: 'POST',
      headers: this.#headers(await this.token(), user, { 'content-type': this.#mime }),
      body: JSON.stringify(listRefreshBundle(this.target.fhirVersion, patientIds)),
    });
    return status === 200 ? (body as FhirBundle) : { resourceType: 'Bundle', entry: [] };
  }

  /** GET [base]/{path} with the app's token (`Patient/123`, `Location/7`, `Patient/$export`). */
  async get(path: string, user?: Clinician, token?: string): Promise<{ status: number; body: unknown }> {
    return this.#fetch(`${this.#base}/${path}`, { headers: this.#headers(token ?? (await this.token()), user) });
  }
}

interface Extension {
  url: string;
  valueUri?: string;
  extension?: Extension[];
}

export interface FhirBundle {
  resourceType: string;
  total?: number;
  entry?: { resource?: Record<string, unknown>; response?: { status?: string } }[];
}

const SEARCH_FRAGMENTS = ['an', 'ar', 'el', 'son', 'mi', 'er', 'th', 'li', 'ro', 'ma', 'ch', 'al'];

function patientIdsOf(bundle: FhirBundle): string[] {
  const ids: string[] = [];
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    if (resource?.resourceType === 'Patient' && typeof resource.id === 'string') ids.push(resource.id);
  }
  return ids;
}

/** Location ids referenced by the Encounter searchsets of a list-refresh response. */
function locationIdsOf(batchResponse: FhirBundle): string[] {
  const ids: string[] = [];
  for (const entry of batchResponse.entry ?? []) {
    const searchset = entry.resource as FhirBundle | undefined;
    for (const inner of searchset?.entry ?? []) {
      const encounter = inner.resource as { resourceType?: string; location?: { location?: { reference?: string } }[] };
      if (encounter?.resourceType !== 'Encounter') continue;
      const reference = encounter.location?.[0]?.location?.reference;
      const match = reference === undefined ? null : /(?:^|\/)Location\/([^/]+)$/.exec(reference);
      if (match?.[1] !== undefined) ids.push(match[1]);
    }
  }
  return ids;
}

/**
 * Run Patients-app traffic against the targets until the duration or the iteration count is reached.
 * Resolves with the final progress. Network errors are counted (status 0), never thrown.
 */
export async function runPatientsAppTraffic(options: TrafficOptions): Promise<TrafficProgress> {
  if (!(options.durationMs > 0)) throw new PatientsAppError('FW_LOAD_UNBOUNDED', 'durationMs must be > 0');
  if (options.targets.length === 0) throw new PatientsAppError('FW_LOAD_NO_TARGET', 'no traffic target');
  const maxIterations = options.maxIterations ?? 10_000;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const listSize = Math.max(1, options.listSize ?? 5);
  const exportRate = options.exportRate ?? 0.02;
  const badTokenRate = options.badTokenRate ?? 0.02;
  const clinicians = options.clinicians ?? [];
  const started = performance.now();
  const deadline = started + options.durationMs;
  const progress: TrafficProgress = {
    elapsedMs: 0,
    iterations: 0,
    requests: 0,
    byStatus: {},
    batchEntries: 0,
    batchEntryFailures: 0,
  };
  const count = (status: number): void => {
    progress.requests++;
    progress.byStatus[status] = (progress.byStatus[status] ?? 0) + 1;
  };
  const clients = options.targets.map((target) => new PatientsAppClient(target, count));
  const report = (): void => {
    progress.elapsedMs = Math.round(performance.now() - started);
    options.onProgress?.({ ...progress, byStatus: { ...progress.byStatus } });
  };
  const ticker = setInterval(report, 1000);
  ticker.unref();

  const more = (): boolean =>
    performance.now() < deadline && progress.iterations < maxIterations && options.signal?.aborted !== true;

  const clinicianLoop = async (index: number): Promise<void> => {
    const random: Random = createRandom((options.seed ?? 1) * 7919 + index);
    while (more()) {
      progress.iterations++;
      const client = clients[random.int(clients.length)]!;
      const user = clinicians.length > 0 ? clinicians[random.int(clinicians.length)] : undefined;
      try {
        await iteration(client, user, random);
      } catch (error) {
        if (!(error instanceof PatientsAppError)) throw error;
        // Counted through onResponse; a failed step ends this iteration only.
      }
    }
  };

  const iteration = async (client: PatientsAppClient, user: Clinician | undefined, random: Random): Promise<void> => {
    if (random.next() < badTokenRate) {
      await client.get('Patient?_count=1', user, 'not-a-valid-token');
      return;
    }
    const fragment = SEARCH_FRAGMENTS[random.int(SEARCH_FRAGMENTS.length)]!;
    // The app's name search per version (STU3 `family=` means "contains" there, per the seed).
    const search = patientNameSearch(client.target.fhirVersion, fragment);
    const found = patientIdsOf(await client.searchPatients(search, user));
    if (found.length === 0) return;
    const list = found.slice(0, listSize);
    const refreshed = await client.listRefresh(list, user);
    for (const entry of refreshed.entry ?? []) {
      progress.batchEntries++;
      if (!entry.response?.status?.startsWith('2')) progress.batchEntryFailures++;
    }
    if (random.next() < 0.3) await client.get(`Patient/${list[random.int(list.length)]!}`, user);
    const locations = locationIdsOf(refreshed);
    if (locations.length > 0 && random.next() < 0.3) {
      await client.get(`Location/${locations[random.int(locations.length)]!}`, user);
    }
    if (random.next() < exportRate) await client.get('Patient/$export', user);
  };

  try {
    await Promise.all(Array.from({ length: concurrency }, (_, i) => clinicianLoop(i)));
  } finally {
    clearInterval(ticker);
  }
  report();
  return { ...progress, elapsedMs: Math.round(performance.now() - started) };
}
