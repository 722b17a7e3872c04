/**
 * The server-side split of a run per hop, from the store's `otel_traces` (a fhirwatch-instrumented target
 * exporting to the sink): the gateway's server spans (whole request), its `/token` server spans, and its
 * client spans to the provider FHIR server, for the run's time window (and tenant). Works on any
 * `@clickhouse/client`-compatible client (embedded chDB or a server); the table is the sink's.
 */

/** The part of a ClickHouse client this needs (structural: no dependency on the client package). */
export interface QueryClient {
  query(params: { query: string; format: 'JSONEachRow'; query_params?: Record<string, unknown> }): Promise<{
    json<T>(): Promise<T[]>;
  }>;
}

export interface HopLatency {
  hop: string;
  spans: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export const HOP_NAMES = {
  gateway: 'gateway (server span: the whole request)',
  token: 'token (gateway /token server span)',
  provider: 'provider (gateway → FHIR server client span)',
} as const;

const round = (x: number): number => Math.round(x * 100) / 100;

/** Latency per hop of the spans that started in [from, to] (tenant's FHIR traffic plus /token calls). */
export async function serverSideSplit(
  client: QueryClient,
  from: Date,
  to: Date,
  tenantId?: string,
): Promise<HopLatency[]> {
  const tenantFilter =
    tenantId === undefined || tenantId === '' ? '' : "AND (TenantId = {tenant:String} OR SpanName LIKE '%/token%')";
  const query = `
    SELECT
      multiIf(SpanKind = 'SPAN_KIND_CLIENT', 'provider', SpanName LIKE '%/token%', 'token', 'gateway') AS hop,
      count() AS spans,
      quantile(0.5)(Duration) / 1e6 AS p50,
      quantile(0.95)(Duration) / 1e6 AS p95,
      quantile(0.99)(Duration) / 1e6 AS p99
    FROM otel_traces
    WHERE Timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND Timestamp <= fromUnixTimestamp64Milli({to:Int64})
      AND SpanKind IN ('SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT')
      ${tenantFilter}
    GROUP BY hop
    ORDER BY hop`;
  const rows = await (
    await client.query({
      query,
      format: 'JSONEachRow',
      query_params: { from: from.getTime(), to: to.getTime(), ...(tenantFilter === '' ? {} : { tenant: tenantId }) },
    })
  ).json<{ hop: keyof typeof HOP_NAMES; spans: string | number; p50: number; p95: number; p99: number }>();
  return rows.map((r) => ({
    hop: HOP_NAMES[r.hop],
    spans: Number(r.spans),
    p50Ms: round(r.p50),
    p95Ms: round(r.p95),
    p99Ms: round(r.p99),
  }));
}
