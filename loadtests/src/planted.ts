/**
 * Planted suspicious patterns for the demo: a few named clinicians whose traffic each compliance report of
 * `fhirwatch audit report …` should flag, sent through the same Patients-app client (and so through the
 * gateway, the audit middleware and the sink) as ordinary traffic:
 *
 * - vip-access    a clinician opens the chart of a patient the caller puts on the VIP watch list  → report vip
 * - name-probing  a burst of name searches (different names, 2 results each), no chart opened      → report name-probing
 * - volume-spike  one clinician opens 60 different patients within a minute                        → report volume
 * - failed-access reads of patients that do not exist (404) and with a forged token (401)          → report failures
 * - export        a bulk export of all patients (`Patient/$export`)                                → report exports
 *
 * After-hours cannot be planted honestly: event times are the real clock. `afterHoursNow` tells whether the
 * demo's own traffic falls outside the default working hours (07:00–19:00 UTC, Monday to Friday).
 *
 * Bounded: about 100 requests in all, loopback targets only (PatientsAppClient checks), one at a time.
 */
import { type Clinician, PatientsAppClient, PatientsAppError, type PatientsAppTarget } from './patients-app.ts';

export type PlantedPatternName = 'vip-access' | 'name-probing' | 'volume-spike' | 'failed-access' | 'export';

export interface PlantedPattern {
  name: PlantedPatternName;
  /** The `fhirwatch audit report <report>` that flags it. */
  report: 'vip' | 'name-probing' | 'volume' | 'failures' | 'exports';
  actor: Clinician;
  tenantId: string;
  /** One PHI-free line for the demo's output (ids of synthetic patients only). */
  detail: string;
  requests: number;
}

export interface PlantedOptions {
  /** Where the patterns go: the first target (one tenant keeps the story simple). */
  targets: readonly PatientsAppTarget[];
  /**
   * The first target's patient ids in the EHR's order (e.g. its seeded population), known without asking the
   * audited service: the set-up of the patterns never appears in the audit trail. The VIP is the last one, the
   * volume spike opens the first ones.
   */
  patientIds: readonly string[];
  /**
   * Called with the patient chosen for the VIP access before it is opened, so the caller can put it on the
   * VIP watch list (e.g. the sink's addVipPatient). Without it the access still happens but no report flags it.
   */
  onVipPatient?: (tenantId: string, patientId: string) => Promise<void>;
  signal?: AbortSignal;
}

export interface PlantedResult {
  patterns: PlantedPattern[];
  vipPatient?: { tenantId: string; patientId: string };
  /** Whether now is outside the default working hours (07:00–19:00 UTC, Mon–Fri): after-hours has hits. */
  afterHoursNow: boolean;
}

/** The planted actors: distinct from the demo's ordinary clinicians, so each report row is attributable. */
export const PLANTED_ACTORS: Readonly<Record<PlantedPatternName, Clinician>> = {
  'vip-access': { userId: 'clinician-21', userName: 'Dr. Ian Wolfe' },
  'name-probing': { userId: 'clinician-22', userName: 'Nurse Nora Quinn' },
  'volume-spike': { userId: 'clinician-23', userName: 'Dr. Otto Brandt' },
  'failed-access': { userId: 'clinician-24', userName: 'Dr. Fay Lorne' },
  export: { userId: 'clinician-25', userName: 'Dr. Ezra Kim' },
};

/** Name searches of the probe: family, given and name, none an identifier (NAME_PROBING_DEFAULTS: ≥ 10 in a 60-minute window). */
const PROBE_SEARCHES: readonly Record<string, string>[] = [
  { family: 'smith' },
  { family: 'johnson' },
  { given: 'maria' },
  { family: 'garcia' },
  { name: 'lee' },
  { given: 'james' },
  { family: 'brown' },
  { family: 'miller', given: 'anna' },
  { name: 'nguyen' },
  { given: 'olivia' },
  { family: 'davis' },
  { name: 'martin' },
];

const VOLUME_SPIKE_PATIENTS = 60;

/** True outside 07:00–19:00 UTC on weekdays, and all weekend (the reports' default working time). */
export function isDefaultAfterHours(at: Date): boolean {
  const day = at.getUTCDay();
  const hour = at.getUTCHours();
  return day === 0 || day === 6 || hour < 7 || hour >= 19;
}

/**
 * Send the planted patterns (sequentially) and say what was planted. The targets come from `patientIds`, not from
 * a search through the service: the planted actors open charts that no search of their own returned, so their
 * accesses stay unexplained (`fhirwatch audit report unexplained`), as a snooper's would, and no set-up identity
 * appears in any report.
 */
export async function runPlantedPatterns(options: PlantedOptions): Promise<PlantedResult> {
  const target = options.targets[0];
  if (target === undefined) throw new PatientsAppError('FW_LOAD_NO_TARGET', 'no traffic target');
  let requests = 0;
  const app = new PatientsAppClient(target, () => {
    requests += 1;
  });
  const patterns: PlantedPattern[] = [];
  const aborted = (): boolean => options.signal?.aborted === true;
  const step = async (
    name: PlantedPatternName,
    report: PlantedPattern['report'],
    body: (actor: Clinician) => Promise<string>,
  ): Promise<void> => {
    if (aborted()) return;
    const before = requests;
    const actor = PLANTED_ACTORS[name];
    const detail = await body(actor);
    patterns.push({ name, report, actor, tenantId: target.tenantId, detail, requests: requests - before });
  };

  let vipPatient: PlantedResult['vipPatient'];
  const ids = options.patientIds;
  if (ids.length < 3)
    throw new PatientsAppError('FW_LOAD_PLANTED', 'the target has too few patients for the planted patterns');
  await step('vip-access', 'vip', async (actor) => {
    // the EHR's last patient: outside the first pages that the other actors see, and never on an ordinary list
    const patientId = ids[ids.length - 1]!;
    await options.onVipPatient?.(target.tenantId, patientId);
    vipPatient = { tenantId: target.tenantId, patientId };
    await app.get(`Patient/${encodeURIComponent(patientId)}`, actor);
    await app.listRefresh([patientId], actor);
    return `opened the chart of VIP patient ${patientId}`;
  });

  await step('name-probing', 'name-probing', async (actor) => {
    for (const params of PROBE_SEARCHES) await app.searchPatients({ ...params, _count: '2' }, actor);
    return `${PROBE_SEARCHES.length} name searches in a row, no chart opened`;
  });

  await step('volume-spike', 'volume', async (actor) => {
    // the EHR's first patients (never the last one, the VIP), each opened
    const spike = ids.slice(0, Math.min(VOLUME_SPIKE_PATIENTS, ids.length - 1));
    for (const id of spike) await app.get(`Patient/${encodeURIComponent(id)}`, actor);
    return `opened ${spike.length} different patients within a minute`;
  });

  await step('failed-access', 'failures', async (actor) => {
    for (let i = 1; i <= 6; i += 1) await app.get(`Patient/planted-missing-${i}`, actor);
    for (let i = 0; i < 2; i += 1) await app.get('Patient?_count=1', actor, 'forged-token');
    return '6 reads of patients that do not exist (404) and 2 requests with a forged token (401)';
  });

  await step('export', 'exports', async (actor) => {
    await app.get('Patient/$export', actor);
    return 'a bulk export of all patients (Patient/$export)';
  });

  return {
    patterns,
    ...(vipPatient === undefined ? {} : { vipPatient }),
    afterHoursNow: isDefaultAfterHours(new Date()),
  };
}
