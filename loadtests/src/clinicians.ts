/**
 * Ordinary clinicians paced like people (the demo's background traffic), as opposed to runPatientsAppTraffic's
 * load loop. Each simulated clinician works in one tenant, has a list of their own patients (their ward or panel),
 * and in one working hour does what {@link CLINICIAN_HOUR} says: refreshes that list, opens charts (of list
 * patients, and of patients they looked up), and searches for a patient by name and birth date, opening the chart
 * the search found. No bulk exports, no forged tokens: those are planted patterns, not ordinary work.
 *
 * The hour is played over `durationMs` (the demo compresses it into its run): every report window (60 minutes or
 * more) then holds at most one clinician-hour per clinician. The same seed gives the same patients, so running
 * again within the hour revisits them instead of adding new ones.
 *
 * Bounded: a fixed number of actions per clinician, loopback targets only (PatientsAppClient checks).
 */
import { type Clinician, PatientsAppClient, PatientsAppError, type PatientsAppTarget } from './patients-app.ts';
import { createRandom, type Random } from './random.ts';

/** What one clinician does in a working hour. */
export interface ClinicianPace {
  /** Refreshes of the clinician's patient list (one batch Bundle for the list). */
  listRefreshes: number;
  /** Chart opens (`GET Patient/{id}`): `searches` of them follow a search, the rest are list patients. */
  chartOpens: number;
  /** Patient searches by name and birth date, each followed by opening the chart it found. */
  searches: number;
}

/**
 * The assumed pace (README "The demo"): a ward clinician refreshes their list of about five patients every
 * ten minutes, opens eight charts an hour and looks up four patients who are not on the list.
 */
export const CLINICIAN_HOUR: ClinicianPace = { listRefreshes: 6, chartOpens: 8, searches: 4 };

/** A patient the clinician looks up: the search the app sends and the id it is expected to find. */
export interface PatientLookup {
  patientId: string;
  search: Record<string, string>;
}

export interface ClinicianShift {
  clinician: Clinician;
  /** Index into the traffic's targets: the clinician's tenant. */
  target: number;
  /** The clinician's own patients (their list). */
  list: readonly string[];
  /** Patients looked up by search in the hour (at least `pace.searches`; the first ones are used). */
  lookups: readonly PatientLookup[];
}

export interface ClinicianTrafficOptions {
  targets: readonly PatientsAppTarget[];
  shifts: readonly ClinicianShift[];
  /** The clinician-hour is played over this long. */
  durationMs: number;
  /** Default {@link CLINICIAN_HOUR}. */
  pace?: ClinicianPace;
  /** Seed of the order of each clinician's actions (default 1). */
  seed?: number;
  onProgress?: (progress: ClinicianProgress) => void;
  signal?: AbortSignal;
}

export interface ClinicianProgress {
  elapsedMs: number;
  requests: number;
  /** Count per HTTP status (0 = network error). */
  byStatus: Record<number, number>;
  listRefreshes: number;
  chartOpens: number;
  searches: number;
  /** Batch entries answered, and those whose own status was not 2xx. */
  batchEntries: number;
  batchEntryFailures: number;
}

type Action = { kind: 'list' } | { kind: 'open'; patientId: string } | { kind: 'search'; lookup: PatientLookup };

/** The hour's actions of one clinician, in a shuffled order that starts with a list refresh (the app opens on it). */
export function shiftActions(shift: ClinicianShift, pace: ClinicianPace, random: Random): Action[] {
  if (shift.list.length === 0) throw new PatientsAppError('FW_LOAD_SHIFT', 'a clinician needs patients on their list');
  if (shift.lookups.length < pace.searches || pace.chartOpens < pace.searches) {
    throw new PatientsAppError('FW_LOAD_SHIFT', 'each search needs a lookup and is followed by a chart open');
  }
  const rest: Action[] = [];
  for (let i = 1; i < pace.listRefreshes; i += 1) rest.push({ kind: 'list' });
  for (let i = 0; i < pace.searches; i += 1) rest.push({ kind: 'search', lookup: shift.lookups[i]! });
  for (let i = 0; i < pace.chartOpens - pace.searches; i += 1) {
    rest.push({ kind: 'open', patientId: shift.list[random.int(shift.list.length)]! });
  }
  for (let i = rest.length - 1; i > 0; i -= 1) {
    const j = random.int(i + 1);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  return pace.listRefreshes > 0 ? [{ kind: 'list' }, ...rest] : rest;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Run every shift's clinician-hour over `durationMs`, each clinician on their own timeline (actions evenly spread
 * with jitter). Resolves with the final progress; network errors are counted (status 0), never thrown.
 */
export async function runClinicianTraffic(options: ClinicianTrafficOptions): Promise<ClinicianProgress> {
  if (!(options.durationMs > 0)) throw new PatientsAppError('FW_LOAD_UNBOUNDED', 'durationMs must be > 0');
  if (options.targets.length === 0) throw new PatientsAppError('FW_LOAD_NO_TARGET', 'no traffic target');
  const pace = options.pace ?? CLINICIAN_HOUR;
  const progress: ClinicianProgress = {
    elapsedMs: 0,
    requests: 0,
    byStatus: {},
    listRefreshes: 0,
    chartOpens: 0,
    searches: 0,
    batchEntries: 0,
    batchEntryFailures: 0,
  };
  const count = (status: number): void => {
    progress.requests += 1;
    progress.byStatus[status] = (progress.byStatus[status] ?? 0) + 1;
  };
  const clients = options.targets.map((target) => new PatientsAppClient(target, count));
  const plans = options.shifts.map((shift, i) => {
    const client = clients[shift.target];
    if (client === undefined) throw new PatientsAppError('FW_LOAD_SHIFT', `shift ${i}: no target ${shift.target}`);
    return { shift, client, actions: shiftActions(shift, pace, createRandom((options.seed ?? 1) * 7919 + i)) };
  });
  const started = performance.now();
  const report = (): void => {
    progress.elapsedMs = Math.round(performance.now() - started);
    options.onProgress?.({ ...progress, byStatus: { ...progress.byStatus } });
  };
  const ticker = setInterval(report, 1000);
  ticker.unref();

  const act = async (client: PatientsAppClient, shift: ClinicianShift, action: Action): Promise<void> => {
    const user = shift.clinician;
    if (action.kind === 'list') {
      progress.listRefreshes += 1;
      const refreshed = await client.listRefresh(shift.list, user);
      for (const entry of refreshed.entry ?? []) {
        progress.batchEntries += 1;
        if (!entry.response?.status?.startsWith('2')) progress.batchEntryFailures += 1;
      }
    } else if (action.kind === 'open') {
      progress.chartOpens += 1;
      await client.get(`Patient/${encodeURIComponent(action.patientId)}`, user);
    } else {
      progress.searches += 1;
      const found = await client.searchPatients(action.lookup.search, user);
      const ids = (found.entry ?? []).map((entry) => entry.resource?.id);
      const id = ids.includes(action.lookup.patientId) ? action.lookup.patientId : undefined;
      if (id === undefined) return;
      progress.chartOpens += 1;
      await client.get(`Patient/${encodeURIComponent(id)}`, user);
    }
  };

  const clinicianLoop = async (plan: (typeof plans)[number], index: number): Promise<void> => {
    const random = createRandom((options.seed ?? 1) * 104_729 + index);
    const slot = options.durationMs / plan.actions.length;
    for (const [i, action] of plan.actions.entries()) {
      if (options.signal?.aborted) return;
      const at = started + slot * (i + 0.1 + 0.8 * random.next());
      await sleep(at - performance.now(), options.signal);
      if (options.signal?.aborted) return;
      try {
        await act(plan.client, plan.shift, action);
      } catch (error) {
        if (!(error instanceof PatientsAppError)) throw error;
        // counted through onResponse; a failed step ends this action only
      }
    }
  };

  try {
    await Promise.all(plans.map((plan, i) => clinicianLoop(plan, i)));
  } finally {
    clearInterval(ticker);
  }
  report();
  return { ...progress, elapsedMs: Math.round(performance.now() - started) };
}

/** The app's patient search for one patient: family and given name and birth date (what a clinician types). */
export function lookupOf(patient: {
  id?: string;
  birthDate?: string;
  name?: { family?: string | string[]; given?: string[] }[];
}): PatientLookup | undefined {
  const name = patient.name?.[0];
  const family = Array.isArray(name?.family) ? name?.family[0] : name?.family;
  const given = name?.given?.[0];
  if (patient.id === undefined || family === undefined || given === undefined || patient.birthDate === undefined) {
    return undefined;
  }
  return { patientId: patient.id, search: { family, given, birthdate: patient.birthDate, _count: '10' } };
}

/**
 * Shifts for the clinicians over the targets' patients (FHIR Patient resources, e.g. the EHR's seeded population):
 * clinician i works in target i mod n, with `listSize` patients of their own (disjoint within a tenant) and
 * `lookups` patients to look up, drawn from the rest. Patients in `exclude` (per target: ids) are never used.
 */
export function clinicianShifts(options: {
  clinicians: readonly Clinician[];
  patients: readonly (readonly Parameters<typeof lookupOf>[0][])[];
  exclude?: readonly (readonly string[])[];
  listSize?: number;
  lookups?: number;
  seed?: number;
}): ClinicianShift[] {
  const listSize = options.listSize ?? 5;
  const lookupCount = options.lookups ?? CLINICIAN_HOUR.searches;
  const random = createRandom(options.seed ?? 1);
  const pools = options.patients.map((patients, t) => {
    const excluded = new Set(options.exclude?.[t] ?? []);
    const usable = patients.filter((p) => p.id !== undefined && !excluded.has(p.id));
    for (let i = usable.length - 1; i > 0; i -= 1) {
      const j = random.int(i + 1);
      [usable[i], usable[j]] = [usable[j]!, usable[i]!];
    }
    return { usable, next: 0 };
  });
  return options.clinicians.map((clinician, i) => {
    const target = i % pools.length;
    const pool = pools[target]!;
    if (pool.usable.length < listSize + lookupCount) {
      throw new PatientsAppError('FW_LOAD_SHIFT', `target ${target} has too few patients for a clinician's shift`);
    }
    const take = (n: number): Parameters<typeof lookupOf>[0][] => {
      const out: Parameters<typeof lookupOf>[0][] = [];
      for (let k = 0; k < n; k += 1) {
        out.push(pool.usable[pool.next % pool.usable.length]!);
        pool.next += 1;
      }
      return out;
    };
    const list = take(listSize).map((p) => p.id!);
    const lookups = take(lookupCount)
      .map(lookupOf)
      .filter((l): l is PatientLookup => l !== undefined);
    return { clinician, target, list, lookups };
  });
}
