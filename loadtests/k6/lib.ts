/**
 * The k6 side of the scenarios: one script per scenario (scripts/<name>.ts) built from the same scenario
 * definitions, SLO table and response checks as the open-model runner, bundled by esbuild into a
 * self-contained script whose only imports are k6's own modules. k6's conventions: `scenarios` with
 * arrival-rate executors, thresholds per tagged sub-metric, a `checks` rate threshold, `tags.name` on URLs
 * with ids, `handleSummary` writing JSON and JUnit.
 *
 * k6 is AGPL-licensed: it is not installed, built or run in this project. These scripts are type-checked
 * (@types/k6) and bundled in CI, and a test holds their options equal to the scenario definitions.
 *
 * Environment: TARGET (FHIR base), CLIENT_ID, CLIENT_SECRET, TENANT, SCOPE, TOKEN_URL, FHIR_VERSION
 * (dstu2|stu3, default stu3), RATE, DURATION (s), PATIENTS_PER_BATCH, MAX_IN_FLIGHT, SLO (e.g.
 * `list-refresh.p95=1500;search.errors=0.01`), SUMMARY_JSON, JUNIT (output paths).
 */
import {
  FHIR_JSON_MIME,
  type FhirVersion,
  LIST_REFRESH_ENTRIES_PER_PATIENT,
  listRefreshBundle,
  parseFhirVersion,
} from '@fhirwatch/contract';
import { check } from 'k6';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { Rate } from 'k6/metrics';
import {
  checkBatchResponse,
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
} from '../src/checks.ts';
import { renderJunit } from '../src/junit.ts';
import { K6_METRICS, k6Options } from '../src/k6-options.ts';
import { mixPicker, resolveScenario, type ScenarioKnobs, type ScenarioName } from '../src/scenarios.ts';
import { applySloOverrides, defaultSlo, type OpTag } from '../src/slo.ts';

export interface SetupData {
  base: string;
  version: FhirVersion;
  tokenUrl: string | undefined;
  token: string | undefined;
  expiresAt: number;
  patients: SamplePatient[];
}

const env = (name: string): string | undefined => {
  const value = __ENV[name];
  return value === undefined || value === '' ? undefined : value;
};
const num = (name: string): number | undefined => (env(name) === undefined ? undefined : Number(env(name)));

/** The knobs from the environment (unset ones keep the scenario's defaults). */
export function knobsFromEnv(): ScenarioKnobs {
  const knobs: ScenarioKnobs = {};
  const rate = num('RATE');
  const durationS = num('DURATION');
  const listSize = num('PATIENTS_PER_BATCH');
  const maxInFlight = num('MAX_IN_FLIGHT');
  if (rate !== undefined) knobs.rate = rate;
  if (durationS !== undefined) knobs.durationS = durationS;
  if (listSize !== undefined) knobs.listSize = listSize;
  if (maxInFlight !== undefined) knobs.maxInFlight = maxInFlight;
  return knobs;
}

type Response = RefinedResponse<ResponseType | undefined>;

export interface K6Script {
  options: ReturnType<typeof k6Options>;
  setup(): SetupData;
  iteration(data: SetupData): void;
  handleSummary(data: SummaryData): Record<string, string>;
}

export interface SummaryData {
  metrics: Record<string, { thresholds?: Record<string, { ok: boolean }> }>;
}

export function makeScript(name: ScenarioName): K6Script {
  const scenario = resolveScenario(name, knobsFromEnv());
  const slo = applySloOverrides(
    defaultSlo(scenario.listSize),
    (env('SLO') ?? '').split(/[\s;]+/).filter((s) => s !== ''),
  );
  const options = k6Options(scenario, slo);
  const opFailed = new Rate(K6_METRICS.opFailed);
  const batchEntryOk = new Rate(K6_METRICS.batchEntryOk);
  const pick = mixPicker(scenario.mix);
  const random = { next: () => Math.random() };
  const int = (n: number): number => Math.floor(Math.random() * n);
  // 5xx, 429 and no response are failures (availability); other 4xx are the checks' business.
  http.setResponseCallback(http.expectedStatuses({ min: 200, max: 428 }, { min: 430, max: 499 }));
  let vuToken: { value: string; expiresAt: number } | undefined;

  const tokenRequest = (data: { tokenUrl: string | undefined }): Response | undefined => {
    if (data.tokenUrl === undefined) return undefined;
    const form: Record<string, string> = { grant_type: 'client_credentials' };
    const clientId = env('CLIENT_ID');
    const secret = env('CLIENT_SECRET');
    const scope = env('SCOPE') ?? env('TENANT');
    if (clientId !== undefined) form.client_id = clientId;
    if (secret !== undefined) form.client_secret = secret;
    if (scope !== undefined) form.scope = scope;
    return http.post(data.tokenUrl, form, { tags: { op: 'token', name: 'token' } });
  };
  const keepToken = (res: Response | undefined): { value: string; expiresAt: number } | undefined => {
    const body = res === undefined ? undefined : parseJson(String(res.body ?? ''));
    const b = body as { access_token?: unknown; expires_in?: unknown } | undefined;
    if (res?.status !== 200 || typeof b?.access_token !== 'string') return undefined;
    const expiresIn = typeof b.expires_in === 'number' ? b.expires_in : 300;
    return { value: b.access_token, expiresAt: Date.now() + expiresIn * 1000 };
  };
  const bearer = (data: SetupData): string | undefined => {
    vuToken ??= data.token === undefined ? undefined : { value: data.token, expiresAt: data.expiresAt };
    if (vuToken !== undefined && vuToken.expiresAt - Date.now() < 30_000)
      vuToken = keepToken(tokenRequest(data)) ?? vuToken;
    return vuToken?.value;
  };
  const headers = (data: SetupData, extra: Record<string, string> = {}): Record<string, string> => {
    const h: Record<string, string> = { accept: FHIR_JSON_MIME[data.version], ...extra };
    const token = bearer(data);
    if (token !== undefined) h.authorization = `Bearer ${token}`;
    return h;
  };
  const record = (tag: OpTag, res: Response | undefined, verdict: ResponseVerdict): void => {
    const tags = { op: tag };
    check(verdict, Object.fromEntries(verdict.checks.map((c) => [c.name, () => c.ok])), tags);
    const ok = res !== undefined && res.status >= 200 && res.status < 300 && verdict.checks.every((c) => c.ok);
    opFailed.add(!ok, tags);
    if (verdict.entries !== undefined) {
      for (let i = 0; i < verdict.entries.total; i++) batchEntryOk.add(i >= verdict.entries.failed);
    }
  };

  return {
    options,
    setup(): SetupData {
      const target = env('TARGET');
      if (target === undefined) throw new Error('FW_LOAD_K6: set TARGET to the FHIR base URL');
      const base = target.replace(/\/+$/, '');
      const version = parseFhirVersion(env('FHIR_VERSION') ?? 'stu3') ?? 'STU3';
      const meta = http.get(`${base}/metadata`, {
        headers: { accept: FHIR_JSON_MIME[version] },
        tags: { op: 'metadata', name: 'metadata' },
      });
      const tokenUrl = env('TOKEN_URL') ?? oauthUri(parseJson(String(meta.body ?? '')), 'token');
      const token = env('CLIENT_ID') === undefined ? undefined : keepToken(tokenRequest({ tokenUrl }));
      const search = http.post(
        `${base}/Patient/_search`,
        { _count: '100' },
        {
          headers: {
            accept: FHIR_JSON_MIME[version],
            ...(token === undefined ? {} : { authorization: `Bearer ${token.value}` }),
          },
          tags: { op: 'search', name: 'Patient/_search' },
        },
      );
      const patients = samplePatients(parseJson(String(search.body ?? '')));
      if (patients.length === 0)
        throw new Error(`FW_LOAD_K6: the setup's patient search answered ${search.status} with no patients`);
      return { base, version, tokenUrl, token: token?.value, expiresAt: token?.expiresAt ?? 0, patients };
    },
    iteration(data: SetupData): void {
      const tag = pick(random);
      const version = data.version;
      const patient = data.patients[int(data.patients.length)]!;
      switch (tag) {
        case 'metadata': {
          const res = http.get(`${data.base}/metadata`, {
            headers: { accept: FHIR_JSON_MIME[version] },
            tags: { op: tag, name: 'metadata' },
          });
          record(tag, res, checkMetadata(res.status, parseJson(String(res.body ?? '')), version));
          return;
        }
        case 'token': {
          const res = tokenRequest(data);
          record(tag, res, checkToken(res?.status ?? 0, parseJson(String(res?.body ?? ''))));
          return;
        }
        case 'search': {
          const kind = int(3);
          const query: PatientQuery =
            kind === 1 && patient.mrn !== undefined
              ? { by: 'identifier', value: patient.mrn }
              : kind === 2 && patient.birthDate !== undefined
                ? { by: 'birthdate', value: patient.birthDate }
                : patient.family !== undefined
                  ? { by: 'family', value: innerFragment(patient.family) }
                  : { by: 'id', value: patient.id };
          const res = http.post(`${data.base}/Patient/_search`, patientSearchParams(version, query, 10), {
            headers: headers(data),
            tags: { op: tag, name: 'Patient/_search' },
          });
          const expect = query.by === 'identifier' || query.by === 'id' ? patient.id : undefined;
          record(
            tag,
            res,
            checkPatientSearch(res.status, parseJson(String(res.body ?? '')), version, query, 10, expect),
          );
          return;
        }
        case 'list-refresh': {
          const start = int(data.patients.length);
          const n = Math.min(scenario.listSize, data.patients.length);
          const ids = Array.from({ length: n }, (_, i) => data.patients[(start + i) % data.patients.length]!.id);
          const res = http.post(`${data.base}/`, JSON.stringify(listRefreshBundle(version, ids)), {
            headers: headers(data, { 'content-type': FHIR_JSON_MIME[version] }),
            tags: { op: tag, name: 'list-refresh batch' },
          });
          record(
            tag,
            res,
            checkBatchResponse(
              res.status,
              parseJson(String(res.body ?? '')),
              version,
              n * LIST_REFRESH_ENTRIES_PER_PATIENT,
            ),
          );
          return;
        }
        case 'read': {
          const res = http.get(`${data.base}/Patient/${encodeURIComponent(patient.id)}`, {
            headers: headers(data),
            tags: { op: tag, name: 'Patient/{id}' },
          });
          record(tag, res, checkRead(res.status, parseJson(String(res.body ?? '')), version, 'Patient', patient.id));
          return;
        }
        case 'export': {
          const res = http.get(`${data.base}/Patient/$export`, {
            headers: headers(data, { prefer: 'respond-async', accept: 'application/fhir+json' }),
            tags: { op: tag, name: 'Patient/$export' },
          });
          const location = res.headers['Content-Location'];
          record(tag, res, {
            checks: [
              { name: 'export kick-off 202', ok: res.status === 202 },
              { name: 'export names a status URL', ok: typeof location === 'string' && location !== '' },
            ],
            fields: [],
          });
          return;
        }
      }
    },
    handleSummary(data: SummaryData): Record<string, string> {
      const classname = `k6.${name}`;
      const cases = Object.entries(data.metrics).flatMap(([metric, m]) =>
        Object.entries(m.thresholds ?? {}).map(([expression, t]) => ({
          classname,
          name: `${metric} ${expression}`,
          ...(t.ok ? {} : { failure: 'threshold crossed' }),
        })),
      );
      const failed = cases.filter((c) => c.failure !== undefined).length;
      return {
        [env('SUMMARY_JSON') ?? `${name}-summary.json`]: JSON.stringify(data, null, 2),
        [env('JUNIT') ?? `${name}-junit.xml`]: renderJunit([{ name: classname, cases }]),
        stdout: `${name}: ${cases.length - failed} of ${cases.length} thresholds met${failed === 0 ? '' : ` (${failed} crossed)`}\n`,
      };
    },
  };
}
