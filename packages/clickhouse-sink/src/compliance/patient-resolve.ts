/**
 * Resolving an MRN to the FHIR logical ids the audit store holds. The store records FHIR ids, not
 * MRNs, so an MRN is resolved one of two ways (the caller chooses):
 *
 * 1. `resolveMrnFromStore`: the patients that identifier searches for this MRN *returned*, as recorded in
 *    the store (PatientSearch records whose `identifier` parameter equals the MRN or ends in `|MRN`, with
 *    a successful outcome). Needs no EHR access, but finds nothing if the patient was never searched by MRN
 *    in the range, and can only be as right as the EHR's answer was then.
 * 2. `resolveMrnViaFhir`: a live `GET [base]/Patient?identifier=[system|]MRN` on a FHIR server (the
 *    EHR or the gateway), which is authoritative for today's MRN assignment.
 *
 * Both may return several ids (a merged or duplicated record); the access report then covers all of them.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ALL_PATIENTS } from '@fhirwatch/contract';
import { AUDIT_QUERY_ERROR_CODES, AuditQueryError } from './errors.ts';
import { AUDIT_EVENTS, selectRows } from './records.ts';
import { chDateTime, resolveTimeRange, type TimeRangeInput } from './time-range.ts';

export interface ResolvedPatient {
  tenant_id: string;
  patient_id: string;
}

export interface StoreMrnOptions extends TimeRangeInput {
  mrn: string;
  tenant?: string;
}

export async function resolveMrnFromStore(
  client: ClickHouseClient,
  options: StoreMrnOptions,
): Promise<ResolvedPatient[]> {
  if (options.mrn === '') throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.invalidOption, 'MRN must not be empty');
  const range = resolveTimeRange(options);
  const params: Record<string, unknown> = {
    mrn: options.mrn,
    from: chDateTime(range.from),
    to: chDateTime(range.to),
    all: ALL_PATIENTS,
  };
  let tenantAnd = '';
  if (options.tenant) {
    params.tenant = options.tenant;
    tenantAnd = ' AND tenant_id = {tenant:String}';
  }
  return selectRows<ResolvedPatient>(
    client,
    `SELECT DISTINCT tenant_id, patient_id FROM (
        SELECT tenant_id, patient_id,
          decodeURLComponent(extractURLParameter(concat('?', replaceRegexpOne(query, '^\\\\?', '')), 'identifier')) AS identifier
        FROM ${AUDIT_EVENTS}
        WHERE event_type = 'PatientSearch' AND outcome = 0 AND patient_id NOT IN ('', {all:String})
          AND event_time >= {from:DateTime64(3, 'UTC')} AND event_time < {to:DateTime64(3, 'UTC')}${tenantAnd}
          AND position(query, 'identifier') > 0
      )
      WHERE identifier = {mrn:String} OR endsWith(identifier, concat('|', {mrn:String}))
      ORDER BY tenant_id, patient_id`,
    params,
  );
}

export interface FhirMrnOptions {
  /** FHIR base URL (no trailing slash needed). */
  fhirUrl: string;
  mrn: string;
  /** Identifier system; when set the search is `identifier=system|mrn`. */
  system?: string;
  /** Bearer token for the FHIR server. */
  token?: string;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** Patient ids a FHIR server returns for `Patient?identifier=[system|]mrn` (first page, up to 100). */
export async function resolveMrnViaFhir(options: FhirMrnOptions): Promise<string[]> {
  const identifier = options.system ? `${options.system}|${options.mrn}` : options.mrn;
  const url = `${options.fhirUrl.replace(/\/+$/, '')}/Patient?identifier=${encodeURIComponent(identifier)}&_count=100`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: {
        accept: 'application/fhir+json, application/json+fhir;q=0.9, application/json;q=0.8',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (cause) {
    // no URL or MRN in the message: the URL's query carries the MRN
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.fhirLookupFailed, 'FHIR patient lookup failed (network)', {
      cause,
    });
  }
  if (!response.ok) {
    throw new AuditQueryError(
      AUDIT_QUERY_ERROR_CODES.fhirLookupFailed,
      `FHIR patient lookup failed (HTTP ${response.status})`,
    );
  }
  const bundle = (await response.json()) as {
    resourceType?: string;
    entry?: { resource?: { resourceType?: string; id?: string } }[];
  };
  if (bundle.resourceType !== 'Bundle') {
    throw new AuditQueryError(AUDIT_QUERY_ERROR_CODES.fhirLookupFailed, 'FHIR patient lookup did not return a Bundle');
  }
  const ids = new Set<string>();
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.resourceType === 'Patient' && entry.resource.id) ids.add(entry.resource.id);
  }
  return [...ids];
}
