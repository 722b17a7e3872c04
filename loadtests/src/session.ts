/**
 * One Patients-app session against a FHIR service, on undici pools: metadata discovery of the token URL
 * (OAuth URIs extension), a client-credentials token cached until shortly before it expires, and the app's
 * operations, each returning its status and the verdict of the checks on its response. Shared by the
 * open-model runner (and its worker threads), the autocannon engine and the conformance tool.
 */
import {
  FHIR_JSON_MIME,
  type FhirVersion,
  LIST_REFRESH_ENTRIES_PER_PATIENT,
  listRefreshBundle,
  parseFhirVersion,
} from '@fhirwatch/contract';
import { Pool } from 'undici';
import {
  checkBatchResponse,
  checkExport,
  checkMetadata,
  checkPatientSearch,
  checkRead,
  checkToken,
  innerFragment,
  oauthUri,
  type PatientQuery,
  parseJson,
  patientSearchParams,
  type ResponseVerdict,
  type SamplePatient,
  samplePatients,
} from './checks.ts';
import { LoadtestError } from './errors.ts';
import type { Random } from './random.ts';
import { RawHttpPool, serializeRequest } from './raw-http.ts';
import type { OpTag } from './slo.ts';

export interface LoadTarget {
  /** FHIR base URL of the service under test. */
  baseUrl: string;
  fhirVersion: FhirVersion;
  /** Tenant GUID, sent as the token scope unless `scope` is given. */
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** Token URL; default: discovered from the OAuth URIs extension of `/metadata`. */
  tokenUrl?: string;
  /** Token scope (default: the tenant id). */
  scope?: string;
}

/** What the setup learned; passed to worker threads so they skip discovery. */
export interface SessionSetup {
  tokenUrl: string | undefined;
  token: { value: string; expiresAt: number } | undefined;
  patients: SamplePatient[];
}

export interface OpOutcome {
  tag: OpTag;
  /** HTTP status (0: no response: network error or timeout). */
  status: number;
  verdict: ResponseVerdict;
}

export interface SessionOptions {
  /** Connections per origin (default 64). */
  connections?: number;
  /** Per-request timeout in ms (default 30,000): a timeout is status 0. */
  timeoutMs?: number;
  /** Patients per list refresh (default 5). */
  listSize?: number;
  /**
   * Throughput mode: the deep check (required fields of every returned resource) runs on one answer in
   * `deepCheckEvery` (default 1: every answer). Status, resource type/id, search semantics and every
   * batch entry's status are checked on every answer whatever this is.
   */
  deepCheckEvery?: number;
  /**
   * Requests to a plain-HTTP base origin go through the raw keep-alive client (raw-http.ts: one prebuilt
   * Buffer per request, a read's bytes reused per patient and token) instead of undici (default false;
   * the runner's throughput mode sets it). Other origins and https stay on undici.
   */
  rawHttp?: boolean;
}

/** One operation's request, and the check of its answer. */
export interface PlannedOp {
  tag: OpTag;
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** `headers` is asked for only by the checks that read a header (parsing them costs on every answer). */
  check(status: number, text: string, headers: () => Record<string, string | string[] | undefined>): ResponseVerdict;
}

export interface HttpAnswer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Raw header pairs → object with lower-case names (repeated names → array). */
function headerObject(raw: readonly Buffer[]): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    const prior = out[name];
    out[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return out;
}

/** The raw client's header strings → object with lower-case names (repeated names → array). */
function headerObjectFromStrings(raw: readonly string[]): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prior = out[name];
    out[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return out;
}

/** An answer of the raw client: the header object is built only when a check reads it. */
class RawHttpAnswer implements HttpAnswer {
  readonly status: number;
  readonly text: string;
  readonly #raw: readonly string[];
  #headers: Record<string, string | string[] | undefined> | undefined;
  constructor(status: number, text: string, raw: readonly string[]) {
    this.status = status;
    this.text = text;
    this.#raw = raw;
  }
  get headers(): Record<string, string | string[] | undefined> {
    this.#headers ??= headerObjectFromStrings(this.#raw);
    return this.#headers;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export class FhirSession {
  readonly target: LoadTarget;
  readonly #base: URL;
  readonly #basePath: string;
  readonly #origin: string;
  readonly #mime: string;
  readonly #pools = new Map<string, Pool>();
  readonly #connections: number;
  readonly #timeoutMs: number;
  readonly #listSize: number;
  readonly #deepCheckEvery: number;
  #sinceDeep = 0;
  readonly #raw: RawHttpPool | undefined;
  readonly #host: string;
  /** Serialized reads by path, for the read's headers object of the current token. */
  #rawGets = new Map<string, Buffer>();
  #rawGetsHeaders: Record<string, string> | undefined;
  #tokenUrl: string | undefined;
  #token: { value: string; expiresAt: number } | undefined;
  #tokenPending: Promise<string> | undefined;
  #patients: SamplePatient[] = [];

  constructor(target: LoadTarget, options: SessionOptions = {}) {
    this.target = target;
    this.#base = new URL(target.baseUrl.replace(/\/+$/, '') + '/');
    this.#basePath = this.#base.pathname;
    this.#origin = this.#base.origin;
    this.#mime = FHIR_JSON_MIME[target.fhirVersion];
    this.#connections = options.connections ?? 64;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#listSize = options.listSize ?? 5;
    this.#deepCheckEvery = options.deepCheckEvery ?? 1;
    this.#tokenUrl = target.tokenUrl;
    this.#host = this.#base.host;
    this.#raw =
      options.rawHttp === true && this.#base.protocol === 'http:'
        ? new RawHttpPool(this.#origin, { connections: this.#connections, timeoutMs: this.#timeoutMs })
        : undefined;
  }

  get patients(): readonly SamplePatient[] {
    return this.#patients;
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: this.#connections,
        pipelining: 1,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
        connectTimeout: Math.min(this.#timeoutMs, 10_000),
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * One HTTP exchange. Network errors and timeouts answer status 0 (never throw). Uses the pool's
   * `dispatch` with a small handler (no stream objects per response): about a third cheaper per request
   * than `request()` + `body.text()`, which is what lets one core keep up with autocannon.
   */
  http(method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
    // The base origin's URLs are built by url() as strings: split them without parsing.
    let origin = this.#origin;
    let path: string;
    if (url.startsWith(this.#origin) && url.charCodeAt(this.#origin.length) === 47 /* / */) {
      path = url.slice(this.#origin.length);
    } else {
      const parsed = new URL(url, this.#base);
      origin = parsed.origin;
      path = parsed.pathname + parsed.search;
    }
    const raw = this.#raw;
    if (raw !== undefined && origin === this.#origin) {
      return new Promise<HttpAnswer>((resolve) => {
        this.#rawRequest(raw, method, url, headers, body, resolve);
      });
    }
    return new Promise<HttpAnswer>((resolve) => {
      let status = 0;
      let raw: Buffer[] = [];
      const chunks: Buffer[] = [];
      this.#pool(origin).dispatch(
        { method, path, headers, body: body ?? null },
        {
          onConnect: () => {},
          onHeaders: (statusCode: number, rawHeaders: Buffer[]) => {
            status = statusCode;
            raw = rawHeaders;
            return true;
          },
          onData: (chunk: Buffer) => {
            chunks.push(chunk);
            return true;
          },
          onComplete: () => {
            const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
            let parsedHeaders: Record<string, string | string[] | undefined> | undefined;
            resolve({
              status,
              text,
              // Header objects are built only when a check asks (the export kick-off's Content-Location).
              get headers() {
                parsedHeaders ??= headerObject(raw);
                return parsedHeaders;
              },
            });
          },
          onError: (error: Error) => {
            resolve({ status: 0, text: '', headers: { 'x-fhirwatch-error': error.name } });
          },
        },
      );
    });
  }

  /** The raw client's request for a URL of the base origin (false: another origin, use undici). */
  #rawRequest(
    raw: RawHttpPool,
    method: 'GET' | 'POST',
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    done: (answer: HttpAnswer) => void,
  ): boolean {
    if (!url.startsWith(this.#origin) || url.charCodeAt(this.#origin.length) !== 47 /* / */) return false;
    const path = url.slice(this.#origin.length);
    let bytes: Buffer | undefined;
    if (body === undefined && method === 'GET' && headers === this.#readHeaders?.headers) {
      // The read's headers (one object per token): its bytes are kept per path until the token changes.
      if (this.#rawGetsHeaders !== headers) {
        this.#rawGets = new Map();
        this.#rawGetsHeaders = headers;
      }
      bytes = this.#rawGets.get(path);
      if (bytes === undefined) {
        bytes = serializeRequest(method, path, this.#host, headers);
        // Bounded: one entry per sampled patient's read.
        if (this.#rawGets.size < 4096) this.#rawGets.set(path, bytes);
      }
    } else {
      bytes = serializeRequest(method, path, this.#host, headers, body);
    }
    raw.request(bytes, (answer) => {
      if (answer.status === 0) {
        done({ status: 0, text: '', headers: { 'x-fhirwatch-error': answer.error ?? 'Error' } });
        return;
      }
      done(new RawHttpAnswer(answer.status, answer.body.toString('utf8'), answer.rawHeaders));
    });
    return true;
  }

  /** URL of a path under the FHIR base (`Patient/_search` → `<base>/Patient/_search`). */
  url(path: string): string {
    return this.#origin + this.#basePath + path;
  }

  async metadata(): Promise<HttpAnswer> {
    return this.http('GET', this.url('metadata'), { accept: this.#mime });
  }

  /** GET /metadata, keep the token URL from the OAuth URIs extension. */
  async discover(): Promise<string | undefined> {
    const answer = await this.metadata();
    if (answer.status !== 200) {
      throw new LoadtestError('FW_LOAD_METADATA', `GET ${this.url('metadata')} answered ${answer.status}`);
    }
    this.#tokenUrl ??= oauthUri(parseJson(answer.text), 'token');
    return this.#tokenUrl;
  }

  get tokenUrl(): string | undefined {
    return this.#tokenUrl;
  }

  /** POST the token URL with client credentials (no caching: the `token` operation measures this). */
  async requestToken(): Promise<HttpAnswer> {
    if (this.#tokenUrl === undefined) {
      throw new LoadtestError('FW_LOAD_TOKEN', 'no token URL: give one, or the metadata must name it');
    }
    return this.http(
      'POST',
      this.#tokenUrl,
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      this.#tokenForm(),
    );
  }

  #tokenForm(): string {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.target.clientId !== undefined) form.set('client_id', this.target.clientId);
    if (this.target.clientSecret !== undefined) form.set('client_secret', this.target.clientSecret);
    const scope = this.target.scope ?? this.target.tenantId;
    if (scope !== undefined) form.set('scope', scope);
    return form.toString();
  }

  #keep(answer: HttpAnswer): string | undefined {
    const body = parseJson(answer.text);
    if (answer.status !== 200 || !isObject(body) || typeof body.access_token !== 'string') return undefined;
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
    this.#token = { value: body.access_token, expiresAt: Date.now() + expiresIn * 1000 };
    return body.access_token;
  }

  /** A valid access token: the cached one until 30 s before it expires, then one refresh shared by all callers. */
  async token(): Promise<string | undefined> {
    if (this.target.clientId === undefined) return undefined;
    if (this.#token !== undefined && this.#token.expiresAt - Date.now() > 30_000) return this.#token.value;
    this.#tokenPending ??= (async () => {
      try {
        const answer = await this.requestToken();
        const value = this.#keep(answer);
        if (value === undefined) throw new LoadtestError('FW_LOAD_TOKEN', `token endpoint answered ${answer.status}`);
        return value;
      } finally {
        this.#tokenPending = undefined;
      }
    })();
    return this.#tokenPending;
  }

  #headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { accept: this.#mime, ...extra };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    return headers;
  }

  /** The read's headers for a token, built once per token (the hot path of a read-heavy run; undici only reads them). */
  #readHeaders: { token: string | undefined; headers: Record<string, string> } | undefined;
  #headersForRead(token: string | undefined): Record<string, string> {
    const cached = this.#readHeaders;
    if (cached !== undefined && cached.token === token) return cached.headers;
    const headers = this.#headers(token);
    this.#readHeaders = { token, headers };
    return headers;
  }

  async searchPatients(params: Record<string, string>, token?: string): Promise<HttpAnswer> {
    return this.http(
      'POST',
      this.url('Patient/_search'),
      this.#headers(token ?? (await this.token()), { 'content-type': 'application/x-www-form-urlencoded' }),
      new URLSearchParams(params).toString(),
    );
  }

  async batch(bundle: unknown, token?: string): Promise<HttpAnswer> {
    return this.http(
      'POST',
      this.#base.href,
      this.#headers(token ?? (await this.token()), { 'content-type': this.#mime }),
      JSON.stringify(bundle),
    );
  }

  async get(path: string, token?: string, extra: Record<string, string> = {}): Promise<HttpAnswer> {
    return this.http('GET', this.url(path), this.#headers(token ?? (await this.token()), extra));
  }

  /**
   * Discover the token URL, get a token, and sample patients from the server's own answer to a patient
   * search (`_count` = sampleSize): ids, family names, MRNs and birth dates the operations then use.
   */
  async setup(sampleSize = 100): Promise<SessionSetup> {
    if (this.#tokenUrl === undefined) await this.discover();
    await this.token();
    // A transient 5xx / 429 (a server under test may inject them) is retried a few times before giving up.
    let answer = await this.searchPatients({ _count: String(sampleSize) });
    for (let attempt = 1; attempt < 8 && (answer.status === 429 || answer.status >= 500); attempt++) {
      await new Promise((r) => setTimeout(r, 100 * attempt));
      answer = await this.searchPatients({ _count: String(sampleSize) });
    }
    if (answer.status !== 200) {
      throw new LoadtestError('FW_LOAD_SETUP', `the setup's patient search answered ${answer.status}`);
    }
    this.#patients = samplePatients(parseJson(answer.text));
    if (this.#patients.length === 0) throw new LoadtestError('FW_LOAD_SETUP', 'the server returned no patients to use');
    return { tokenUrl: this.#tokenUrl, token: this.#token, patients: this.#patients };
  }

  /** Reuse another session's setup (worker threads). */
  adopt(setup: SessionSetup): void {
    this.#tokenUrl = setup.tokenUrl;
    this.#token = setup.token;
    this.#patients = setup.patients;
  }

  /** A patient query drawn from the sample: by family-name fragment, MRN or birth date. */
  pickQuery(random: Random): { query: PatientQuery; expectId: string } {
    const patient = this.#patients[random.int(this.#patients.length)]!;
    const kind = random.int(3);
    if (kind === 1 && patient.mrn !== undefined)
      return { query: { by: 'identifier', value: patient.mrn }, expectId: patient.id };
    if (kind === 2 && patient.birthDate !== undefined) {
      return { query: { by: 'birthdate', value: patient.birthDate }, expectId: patient.id };
    }
    if (patient.family !== undefined)
      return { query: { by: 'family', value: innerFragment(patient.family) }, expectId: patient.id };
    return { query: { by: 'id', value: patient.id }, expectId: patient.id };
  }

  /** `listSize` distinct sample patients (fewer when the sample is smaller). */
  pickList(random: Random): string[] {
    const n = Math.min(this.#listSize, this.#patients.length);
    const start = random.int(this.#patients.length);
    return Array.from({ length: n }, (_, i) => this.#patients[(start + i) % this.#patients.length]!.id);
  }

  /** Whether this answer gets the deep field check (one in `deepCheckEvery`, counted per session). */
  #deep(): boolean {
    if (this.#deepCheckEvery <= 1) return true;
    if (++this.#sinceDeep < this.#deepCheckEvery) return false;
    this.#sinceDeep = 0;
    return true;
  }

  /** The token currently held (undefined before the first one or without client credentials). */
  get cachedToken(): string | undefined {
    return this.#token?.value;
  }

  /**
   * The request of one operation and the check of its answer, built synchronously with the given token
   * (the autocannon engine builds requests this way; `op` awaits a fresh token first).
   */
  buildOp(tag: OpTag, random: Random, token: string | undefined): PlannedOp {
    const version = this.target.fhirVersion;
    const deep = this.#deep();
    switch (tag) {
      case 'metadata':
        return {
          tag,
          method: 'GET',
          url: this.url('metadata'),
          headers: { accept: this.#mime },
          check: (status, text) => checkMetadata(status, parseJson(text), version),
        };
      case 'token': {
        if (this.#tokenUrl === undefined) throw new LoadtestError('FW_LOAD_TOKEN', 'no token URL');
        return {
          tag,
          method: 'POST',
          url: this.#tokenUrl,
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: this.#tokenForm(),
          check: (status, text) => checkToken(status, parseJson(text)),
        };
      }
      case 'search': {
        const { query, expectId } = this.pickQuery(random);
        const count = 10;
        // An exact MRN / id lookup must find the patient; a fragment or a birth date may match more than _count.
        const expect = query.by === 'identifier' || query.by === 'id' ? expectId : undefined;
        return {
          tag,
          method: 'POST',
          url: this.url('Patient/_search'),
          headers: this.#headers(token, { 'content-type': 'application/x-www-form-urlencoded' }),
          body: new URLSearchParams(patientSearchParams(version, query, count)).toString(),
          check: (status, text) => checkPatientSearch(status, parseJson(text), version, query, count, expect, deep),
        };
      }
      case 'list-refresh': {
        const ids = this.pickList(random);
        const expected = ids.length * LIST_REFRESH_ENTRIES_PER_PATIENT;
        return {
          tag,
          method: 'POST',
          url: this.#base.href,
          headers: this.#headers(token, { 'content-type': this.#mime }),
          body: JSON.stringify(listRefreshBundle(version, ids)),
          check: (status, text) => checkBatchResponse(status, parseJson(text), version, expected, deep),
        };
      }
      case 'read': {
        const id = this.#patients[random.int(this.#patients.length)]!.id;
        return {
          tag,
          method: 'GET',
          url: this.url(`Patient/${encodeURIComponent(id)}`),
          headers: this.#headersForRead(token),
          check: (status, text) => checkRead(status, parseJson(text), version, 'Patient', id, deep),
        };
      }
      case 'export':
        return {
          tag,
          method: 'GET',
          url: this.url('Patient/$export'),
          headers: this.#headers(token, { prefer: 'respond-async', accept: 'application/fhir+json' }),
          check: (status, _text, headers) => {
            const location = headers()['content-location'];
            return checkExport(status, Array.isArray(location) ? location[0] : location);
          },
        };
    }
  }

  /**
   * `op` with a callback: on the raw client with a still-valid cached token, no promise at all between the
   * request and `done` (the runner's hot path); otherwise through `op`. `done` is called exactly once.
   */
  run(tag: OpTag, random: Random, done: (outcome: OpOutcome | undefined) => void): void {
    const raw = this.#raw;
    const cached = this.#token;
    const needsToken = tag !== 'metadata' && tag !== 'token' && this.target.clientId !== undefined;
    const fresh = cached !== undefined && cached.expiresAt - Date.now() > 30_000;
    if (raw === undefined || (needsToken && !fresh)) {
      this.op(tag, random).then(done, () => done(undefined));
      return;
    }
    const token = needsToken ? cached?.value : undefined;
    const planned = this.buildOp(tag, random, token);
    const checked = (answer: HttpAnswer): void => {
      let outcome: OpOutcome | undefined;
      try {
        const verdict = planned.check(answer.status, answer.text, () => answer.headers);
        outcome = { tag, status: answer.status, verdict };
      } catch {
        outcome = undefined;
      }
      done(outcome);
    };
    const { method, url, headers, body } = planned;
    // Another origin (a token URL elsewhere): the same planned request through undici.
    if (!this.#rawRequest(raw, method, url, headers, body, checked)) {
      this.http(method, url, headers, body).then(checked, () => done(undefined));
    }
  }

  /** Run one operation and check its response. Never throws for a server's answer. */
  async op(tag: OpTag, random: Random): Promise<OpOutcome> {
    let token: string | undefined;
    // The cached token without a promise when it is still good (the common case on the hot path).
    const cached = this.#token;
    if (tag === 'metadata' || tag === 'token' || this.target.clientId === undefined) token = undefined;
    else if (cached !== undefined && cached.expiresAt - Date.now() > 30_000) token = cached.value;
    else {
      try {
        token = await this.token();
      } catch {
        return { tag, status: 0, verdict: { checks: [{ name: 'token available', ok: false }], fields: [] } };
      }
    }
    const planned = this.buildOp(tag, random, token);
    const answer = await this.http(planned.method, planned.url, planned.headers, planned.body);
    return {
      tag,
      status: answer.status,
      verdict: planned.check(answer.status, answer.text, () => answer.headers),
    };
  }

  async close(): Promise<void> {
    this.#raw?.close();
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
    this.#pools.clear();
  }
}

/** The FHIR version a server declares in its `/metadata` (`fhirVersion`), or undefined. */
export async function detectFhirVersion(baseUrl: string, timeoutMs = 10_000): Promise<FhirVersion | undefined> {
  const { request } = await import('undici');
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/metadata`);
  try {
    const response = await request(url, {
      headers: { accept: 'application/fhir+json, application/json+fhir, application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const body = parseJson(await response.body.text());
    return isObject(body) && typeof body.fhirVersion === 'string' ? parseFhirVersion(body.fhirVersion) : undefined;
  } catch {
    return undefined;
  }
}
