/**
 * Read-only batches, as pure functions of the request body: which entries the gateway answers itself
 * (anything but GET: 405 in the entry's response, never forwarded), the Bundle it forwards, and the
 * batch-response with the refused entries put back in their places.
 */
import { FHIR_RELEASES, type FhirVersion, operationOutcome, type ReleaseProfile } from '@fhirwatch/contract';
import { GatewayError } from './errors.ts';
import { parseTarget } from './routes.ts';

// Without these characters an entry URL can neither leave the base, mis-encode nor name an operation.
const NEEDS_ENTRY_CHECK = /[%.\\:$]|^\/\//;

/** What the gateway does with a batch: the entries it refuses (not GET) and the body it forwards. */
export interface BatchPlan {
  /** Every entry as sent. */
  entries: unknown[];
  /** Indexes of entries answered 405 by the gateway. */
  refused: number[];
  /** The Bundle sent on: the original bytes, or a Bundle of the GET entries only. */
  forward: Buffer;
}

/**
 * Read-only batches: entries must be GET (anything else is answered 405 in its `entry.response`,
 * never forwarded), stay relative to the provider base like the request itself, and number at most
 * `maxEntries`.
 */
export function planBatch(body: Buffer, maxEntries: number): BatchPlan {
  let bundle: unknown;
  try {
    bundle = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new GatewayError('FW_GATEWAY_MALFORMED_JSON', 'request body is not valid JSON', { cause });
  }
  const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (typeof bundle !== 'object' || bundle === null || b.resourceType !== 'Bundle') {
    throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'POST to the FHIR base takes a Bundle of type batch');
  }
  if (b.type !== 'batch') {
    throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'only Bundle.type = batch is processed');
  }
  if (b.entry === undefined) return { entries: [], refused: [], forward: body };
  if (!Array.isArray(b.entry)) throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'Bundle.entry must be an array');
  if (b.entry.length > maxEntries) {
    throw new GatewayError('FW_GATEWAY_BATCH_TOO_LARGE', `a batch holds at most ${maxEntries} entries`);
  }
  const refused: number[] = [];
  (b.entry as unknown[]).forEach((entry, index) => {
    const request = (entry as { request?: { url?: unknown; method?: unknown } } | null)?.request;
    if (typeof request?.url !== 'string' || typeof request.method !== 'string') {
      throw new GatewayError('FW_GATEWAY_NOT_A_BATCH', 'each batch entry needs request.method and request.url');
    }
    if (request.method !== 'GET') {
      refused.push(index);
      return;
    }
    if (!NEEDS_ENTRY_CHECK.test(request.url)) return;
    const url = request.url.startsWith('/') ? request.url : `/${request.url}`;
    const target = parseTarget('GET', url);
    if (target.kind !== 'error' || target.code === 'FW_GATEWAY_UNKNOWN_ROUTE') return;
    if (target.code === 'FW_GATEWAY_NOT_READ_ONLY') refused.push(index);
    else throw new GatewayError(target.code, `batch entry: ${target.message}`);
  });
  if (refused.length === 0) return { entries: b.entry, refused, forward: body };
  const kept = new Set(refused);
  const forward = Buffer.from(
    JSON.stringify({ ...(bundle as object), entry: (b.entry as unknown[]).filter((_, i) => !kept.has(i)) }),
  );
  return { entries: b.entry, refused, forward };
}

/**
 * The `entry` of a batch-response for an entry the gateway refused, in the version's shape: where the
 * OperationOutcome goes is the release profile's `batchEntryOutcome` (DSTU2's `Bundle.entry.response`
 * has no `outcome`, so there it is the entry's resource).
 */
export function refusedEntry(version: FhirVersion): Record<string, unknown> {
  const status = '405 Method Not Allowed';
  const where: ReleaseProfile['batchEntryOutcome'] = FHIR_RELEASES[version].batchEntryOutcome;
  switch (where) {
    case 'response.outcome':
      return { response: { status, outcome: refusedOutcome() } };
    case 'resource':
      return { resource: refusedOutcome(), response: { status } };
  }
}

function refusedOutcome(): unknown {
  return operationOutcome('not-supported', 'the gateway forwards GET batch entries only (read-only)', {
    code: 'FW_GATEWAY_NOT_READ_ONLY',
  });
}

/**
 * Put the refused entries back in their places among the provider's answers. A provider answer that
 * is not a batch-response of the forwarded entries is passed on as it came.
 */
export function mergeBatch(plan: BatchPlan, version: FhirVersion, providerBody: Buffer): Buffer {
  let answer: { resourceType?: unknown; entry?: unknown };
  try {
    answer = JSON.parse(providerBody.toString('utf8'));
  } catch {
    return providerBody;
  }
  const forwarded = plan.entries.length - plan.refused.length;
  const answered = Array.isArray(answer?.entry) ? (answer.entry as unknown[]) : forwarded === 0 ? [] : undefined;
  if (answer?.resourceType !== 'Bundle' || answered === undefined || answered.length !== forwarded) {
    return providerBody;
  }
  const refused = new Set(plan.refused);
  const entry: unknown[] = [];
  let next = 0;
  for (let i = 0; i < plan.entries.length; i++) entry.push(refused.has(i) ? refusedEntry(version) : answered[next++]);
  return Buffer.from(JSON.stringify({ ...answer, entry }));
}
