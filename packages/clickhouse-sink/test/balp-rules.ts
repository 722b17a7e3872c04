/**
 * Our own check of the IHE BALP fixed values (https://profiles.ihe.net/ITI/BALP/) for the profiles an
 * AuditEvent claims, plus FHIR JSON's "no empty strings". The `fhir` package validates the R4 resource; it
 * knows nothing of BALP and accepts `""`, hence this.
 */
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const R4 = {
  eventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  entityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
};
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';

// biome-ignore lint/suspicious/noExplicitAny: walks untyped FHIR JSON
type Json = any;

/** Paths of every empty string in a JSON value. */
export function emptyStrings(value: unknown, path = '$'): string[] {
  if (value === '') return [path];
  if (Array.isArray(value)) return value.flatMap((item, i) => emptyStrings(item, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => emptyStrings(item, `${path}.${key}`));
  }
  return [];
}

const coding = (concept: Json): Json => concept?.coding?.[0] ?? concept;
const has = (list: Json[] | undefined, system: string, code: string): boolean =>
  (list ?? []).some((c) => c?.system === system && c?.code === code);

/** BALP fixed-value problems of an R4 AuditEvent for each BALP profile it claims ([] = conforms). */
export function balpProblems(event: Json): string[] {
  const problems: string[] = [];
  const profiles: string[] = event.meta?.profile ?? [];
  for (const profile of profiles) {
    if (!profile.startsWith(BALP)) continue;
    const name = profile.slice(BALP.length);
    const isRead = name === 'Read' || name === 'PatientRead';
    const isQuery = name === 'Query' || name === 'PatientQuery';
    if (!isRead && !isQuery) {
      problems.push(`${name}: not a profile this check knows`);
      continue;
    }
    const fail = (what: string): void => {
      problems.push(`${name}: ${what}`);
    };
    if (event.type?.system !== R4.eventType || event.type?.code !== 'rest') fail('type must be audit-event-type#rest');
    if (!has(event.subtype, RESTFUL, isRead ? 'read' : 'search-type'))
      fail(`subtype must include restful-interaction#${isRead ? 'read' : 'search-type'}`);
    if (event.action !== (isRead ? 'R' : 'E')) fail(`action must be ${isRead ? 'R' : 'E'}`);
    if (event.outcome !== '0') fail('outcome is fixed to 0 (success)');
    const agentCodes = (event.agent ?? []).map((a: Json) => coding(a.type));
    const client = isRead ? '110152' : '110153';
    const server = isRead ? '110153' : '110152';
    if (!agentCodes.some((c: Json) => c?.system === DCM && c?.code === client))
      fail(`client agent must be DCM#${client}`);
    if (!agentCodes.some((c: Json) => c?.system === DCM && c?.code === server))
      fail(`server agent must be DCM#${server}`);
    if ((event.agent ?? []).filter((a: Json) => a.requestor === true).length < 1)
      fail('one agent must be the requestor');
    const entities: Json[] = event.entity ?? [];
    const role = (code: string): Json[] =>
      entities.filter((e) => e.role?.system === R4.objectRole && e.role?.code === code);
    if (isQuery) {
      const [query, ...more] = role('24');
      if (query === undefined || more.length > 0) fail('exactly one entity[query] (object-role#24)');
      else {
        if (query.type?.system !== R4.entityType || query.type?.code !== '2')
          fail('entity[query].type must be audit-entity-type#2');
        if (typeof query.query !== 'string' || query.query === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(query.query))
          fail('entity[query].query must be non-empty base64');
      }
    } else {
      const [data] = role('4');
      if (data === undefined) fail('entity[data] (object-role#4) required');
      else if (data.what === undefined) fail('entity[data].what required');
    }
    const patients = role('1');
    if (name.startsWith('Patient')) {
      if (patients.length !== 1) fail('exactly one entity[patient] (object-role#1)');
      else {
        if (patients[0].type?.system !== R4.entityType || patients[0].type?.code !== '1')
          fail('entity[patient].type must be #1');
        if (!/^Patient\/.+/.test(patients[0].what?.reference ?? ''))
          fail('entity[patient].what must reference a Patient');
      }
    } else if (patients.length > 0) fail('a patient-less profile carries no entity[patient]');
  }
  return problems;
}
