/**
 * The server's `/metadata`: a DSTU2 Conformance or an STU3 CapabilityStatement claiming exactly the
 * Patients-app contract (read + search-type on each resource, batch Bundles, the search parameters).
 * https://www.hl7.org/fhir/DSTU2/conformance.html, https://www.hl7.org/fhir/STU3/capabilitystatement.html
 * OAuth URIs: http://hl7.org/fhir/extension-oauth-uris.html (SMART on FHIR).
 */
import { PATIENTS_APP_RESOURCES } from './resources.ts';
import { SEARCH_PARAMETERS, stringMatch } from './search-params.ts';
import { FHIR_RELEASES, type FhirVersion } from './versions.ts';

export const OAUTH_URIS_EXTENSION_URL = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';
export const RESTFUL_SECURITY_SERVICE_SYSTEM = 'http://hl7.org/fhir/restful-security-service';

/** Default `date` of the statement: the contract's revision date (the function stays pure). */
export const CONTRACT_DATE = '2026-11-25';

export interface CapabilityStatementOptions {
  /** OAuth token endpoint; when given, `rest[0].security` carries the OAuth URIs extension. */
  tokenUrl?: string;
  /** OAuth authorize endpoint (sub-extension `authorize`), only with `tokenUrl`. */
  authorizeUrl?: string;
  /** `software` element; default `{ name: 'fhirwatch', version: '0.1.0' }`. */
  software?: { name: string; version: string };
  /** FHIR base URL, recorded as `implementation.url`. */
  baseUrl?: string;
  /** `date` element (FHIR dateTime); default CONTRACT_DATE. */
  date?: string;
}

export interface FhirExtension {
  url: string;
  valueUri?: string;
  extension?: FhirExtension[];
}

export interface CapabilitySearchParam {
  name: string;
  type: string;
  documentation?: string;
  /** DSTU2 only: search modifiers supported (removed from the element in STU3). */
  modifier?: string[];
  /** DSTU2 only: target resource types of a reference parameter. */
  target?: string[];
}

export interface CapabilityRestResource {
  type: string;
  interaction: { code: 'read' | 'search-type'; documentation?: string }[];
  searchParam: CapabilitySearchParam[];
}

export interface CapabilityRestSecurity {
  extension?: FhirExtension[];
  cors?: boolean;
  service: { coding: { system: string; code: string; display?: string }[]; text?: string }[];
  description?: string;
}

export interface CapabilityRest {
  mode: 'server';
  documentation?: string;
  security: CapabilityRestSecurity;
  resource: CapabilityRestResource[];
  interaction: { code: 'batch' | 'transaction'; documentation?: string }[];
}

/** A DSTU2 Conformance or an STU3 CapabilityStatement as built by `capabilityStatement`. */
export interface CapabilityStatementResource {
  resourceType: 'Conformance' | 'CapabilityStatement';
  status: 'active';
  date: string;
  publisher: string;
  kind: 'instance';
  software: { name: string; version: string };
  implementation: { description: string; url?: string };
  fhirVersion: string;
  acceptUnknown: 'no';
  format: string[];
  rest: [CapabilityRest];
}

/**
 * Build the Conformance (DSTU2) or CapabilityStatement (STU3) for the Patients-app contract.
 *
 * System interactions: STU3 claims `batch` (and not `transaction`). DSTU2's system-restful-interaction
 * code system has no `batch` code (batch and transaction Bundles are both the `transaction`
 * interaction there), so DSTU2 claims `transaction` with documentation saying only `Bundle.type = batch`
 * is processed.
 */
export function capabilityStatement(
  version: FhirVersion,
  options: CapabilityStatementOptions = {},
): CapabilityStatementResource {
  const release = FHIR_RELEASES[version];
  const resource: CapabilityRestResource[] = PATIENTS_APP_RESOURCES[version].map((type) => ({
    type,
    interaction: [{ code: 'read' }, { code: 'search-type' }],
    searchParam: (SEARCH_PARAMETERS[version][type] ?? [])
      .filter((p) => !p.result)
      .map((p) => {
        const sp: CapabilitySearchParam = {
          name: p.name,
          type: p.type === 'special' ? 'string' : p.type,
          documentation:
            stringMatch(version, type, p.name, '') === 'contains'
              ? `${p.description}; plain \`${p.name}=\` matches any part of the name (contains)`
              : p.description,
        };
        if (release.capabilitySearchModifiers) {
          const modifiers = p.modifiers.filter((m) => m === 'contains' || m === 'exact');
          if (modifiers.length > 0) sp.modifier = modifiers;
          if (p.target !== undefined) sp.target = [...p.target];
        }
        return sp;
      }),
  }));

  const security: CapabilityRestSecurity = {
    service: [
      {
        coding: [{ system: RESTFUL_SECURITY_SERVICE_SYSTEM, code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
        text: 'OAuth2 client credentials',
      },
    ],
  };
  if (options.tokenUrl !== undefined) {
    const uris: FhirExtension[] = [{ url: 'token', valueUri: options.tokenUrl }];
    if (options.authorizeUrl !== undefined) uris.push({ url: 'authorize', valueUri: options.authorizeUrl });
    security.extension = [{ url: OAUTH_URIS_EXTENSION_URL, extension: uris }];
  }

  const implementation: CapabilityStatementResource['implementation'] = {
    description: 'FHIR interface for the Microsoft Teams Patients app',
  };
  if (options.baseUrl !== undefined) implementation.url = options.baseUrl;

  return {
    resourceType: release.capabilityType,
    status: 'active',
    date: options.date ?? CONTRACT_DATE,
    publisher: 'fhirwatch',
    kind: 'instance',
    software: options.software ? { ...options.software } : { name: 'fhirwatch', version: '0.1.0' },
    implementation,
    fhirVersion: release.number,
    acceptUnknown: 'no',
    format: [release.jsonMime, 'json'],
    rest: [
      {
        mode: 'server',
        security,
        resource,
        interaction: [{ ...release.batchInteraction }],
      },
    ],
  };
}
