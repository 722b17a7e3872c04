/**
 * Map OTLP requests (OTLP/JSON object shape, from either encoding) to rows of the otel_* tables the way the
 * Collector's ClickHouse exporter does: attribute maps flattened to strings (AnyValue.AsString), ids as hex,
 * SpanKind / StatusCode as the proto enum names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), ServiceName from
 * the `service.name` resource attribute, nested Events / Links / Exemplars as parallel arrays.
 * Malformed shapes throw FW_SINK_BAD_OTLP (400); unknown fields are ignored, as OTLP/JSON requires.
 */
import { SinkError } from '../../errors.ts';
import { OTEL_TABLES } from '../../store/schema/telemetry.ts';

type Obj = Record<string, unknown>;
export type Row = Record<string, unknown>;
export type RowsByTable = Map<string, Row[]>;

const SPAN_KINDS = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const MAX_DATETIME64_NANOS = 9_223_372_036_854_775_807n;
const OUT_OF_RANGE_TIME = 'time out of DateTime64(9) range';

function bad(what: string): never {
  throw new SinkError('FW_SINK_BAD_OTLP', `invalid OTLP payload: ${what}`);
}

function obj(value: unknown, what: string): Obj {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) bad(`${what} must be an object`);
  return value as Obj;
}

function arr(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) bad(`${what} must be an array`);
  return value;
}

function str(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') bad(`${what} must be a string`);
  return value;
}

function num(value: unknown, what: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  // OTLP/JSON encodes NaN / Infinity as strings
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  return bad(`${what} must be a number`);
}

/** A 64-bit unsigned integer (string or number) as a decimal string. */
function u64(value: unknown, what: string): string {
  if (value === undefined || value === null) return '0';
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value).toString();
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return BigInt(value).toString();
  return bad(`${what} must be an unsigned 64-bit integer`);
}

/**
 * Nanoseconds since epoch → `seconds.nanoseconds`, a DateTime64(9) the store parses exactly and independent of
 * its time zone. The seconds are padded to 10 digits: with `date_time_input_format = 'best_effort'` ClickHouse
 * reads a shorter number as a date (`0.000000000` is refused), which is what an absent optional time (a gauge
 * point without `startTimeUnixNano`, as `telemetrygen` sends) maps to: the epoch, as the Collector's exporter
 * stores it. DateTime64(9) ends at 2262-04-11 23:47:16.854775807 (int64 ns); ClickHouse would store a later
 * 10-digit time wrapped around, so such a time becomes a text the store refuses (CANNOT_PARSE_DATETIME) and
 * the writer isolates, counts and reports that row like any other refused row.
 */
function nanosToDateTime(nanos: string): string {
  if (nanos.length >= 19 && BigInt(nanos) > MAX_DATETIME64_NANOS) return OUT_OF_RANGE_TIME;
  const padded = nanos.padStart(19, '0');
  return `${padded.slice(0, -9)}.${padded.slice(-9)}`;
}

function idHex(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') {
    if (!/^[0-9a-fA-F]*$/.test(value)) bad(`${what} must be hex`);
    return /^0*$/.test(value) ? '' : value.toLowerCase();
  }
  if (Array.isArray(value) || value instanceof Uint8Array) {
    const hex = Buffer.from(value as ArrayLike<number>).toString('hex');
    return /^0*$/.test(hex) ? '' : hex;
  }
  return bad(`${what} must be an id`);
}

/** AnyValue as the exporter's `AsString()`: strings raw, scalars formatted, arrays / maps as JSON. */
function anyValueString(value: unknown): string {
  const v = obj(value, 'AnyValue');
  if (v.stringValue !== undefined) return str(v.stringValue, 'stringValue');
  if (v.boolValue !== undefined) return v.boolValue === true ? 'true' : 'false';
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(num(v.doubleValue, 'doubleValue'));
  if (v.bytesValue !== undefined) {
    return typeof v.bytesValue === 'string' ? v.bytesValue : Buffer.from(v.bytesValue as number[]).toString('base64');
  }
  if (v.arrayValue !== undefined || v.kvlistValue !== undefined) return JSON.stringify(anyValueRaw(v));
  return '';
}

function anyValueRaw(value: unknown): unknown {
  const v = obj(value, 'AnyValue');
  if (v.arrayValue !== undefined)
    return arr(obj(v.arrayValue, 'arrayValue').values, 'arrayValue.values').map(anyValueRaw);
  if (v.kvlistValue !== undefined) {
    const out: Obj = {};
    for (const kv of arr(obj(v.kvlistValue, 'kvlistValue').values, 'kvlistValue.values')) {
      const entry = obj(kv, 'KeyValue');
      out[str(entry.key, 'key')] = anyValueRaw(entry.value);
    }
    return out;
  }
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return num(v.doubleValue, 'doubleValue');
  if (v.boolValue !== undefined) return v.boolValue === true;
  return anyValueString(v);
}

function attributes(value: unknown, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of arr(value, what)) {
    const entry = obj(kv, `${what}[]`);
    out[str(entry.key, `${what}[].key`)] = anyValueString(entry.value);
  }
  return out;
}

interface ResourceInfo {
  attributes: Record<string, string>;
  serviceName: string;
  schemaUrl: string;
}

function resourceInfo(resourceBlock: Obj): ResourceInfo {
  const attrs = attributes(obj(resourceBlock.resource, 'resource').attributes, 'resource.attributes');
  return {
    attributes: attrs,
    serviceName: attrs['service.name'] ?? '',
    schemaUrl: str(resourceBlock.schemaUrl, 'schemaUrl'),
  };
}

interface ScopeInfo {
  name: string;
  version: string;
  attributes: Record<string, string>;
  dropped: number;
  schemaUrl: string;
}

function scopeInfo(scopeBlock: Obj): ScopeInfo {
  const scope = obj(scopeBlock.scope, 'scope');
  return {
    name: str(scope.name, 'scope.name'),
    version: str(scope.version, 'scope.version'),
    attributes: attributes(scope.attributes, 'scope.attributes'),
    dropped: num(scope.droppedAttributesCount, 'scope.droppedAttributesCount'),
    schemaUrl: str(scopeBlock.schemaUrl, 'schemaUrl'),
  };
}

function push(rows: RowsByTable, table: string, row: Row): void {
  let list = rows.get(table);
  if (list === undefined) {
    list = [];
    rows.set(table, list);
  }
  list.push(row);
}

export function mapTraces(request: unknown): RowsByTable {
  const rows: RowsByTable = new Map();
  for (const rs of arr(obj(request, 'request').resourceSpans, 'resourceSpans')) {
    const resourceBlock = obj(rs, 'resourceSpans[]');
    const resource = resourceInfo(resourceBlock);
    for (const ss of arr(resourceBlock.scopeSpans, 'scopeSpans')) {
      const scopeBlock = obj(ss, 'scopeSpans[]');
      const scope = scopeInfo(scopeBlock);
      for (const s of arr(scopeBlock.spans, 'spans')) {
        const span = obj(s, 'span');
        const start = u64(span.startTimeUnixNano, 'startTimeUnixNano');
        const end = u64(span.endTimeUnixNano, 'endTimeUnixNano');
        const duration = BigInt(end) - BigInt(start);
        const status = obj(span.status, 'status');
        const events = arr(span.events, 'events').map((e) => obj(e, 'event'));
        const links = arr(span.links, 'links').map((l) => obj(l, 'link'));
        push(rows, OTEL_TABLES.traces, {
          Timestamp: nanosToDateTime(start),
          TraceId: idHex(span.traceId, 'traceId'),
          SpanId: idHex(span.spanId, 'spanId'),
          ParentSpanId: idHex(span.parentSpanId, 'parentSpanId'),
          TraceState: str(span.traceState, 'traceState'),
          SpanName: str(span.name, 'name'),
          SpanKind: SPAN_KINDS[num(span.kind, 'kind')] ?? '',
          ServiceName: resource.serviceName,
          ResourceAttributes: resource.attributes,
          ScopeName: scope.name,
          ScopeVersion: scope.version,
          SpanAttributes: attributes(span.attributes, 'attributes'),
          Duration: (duration > 0n ? duration : 0n).toString(),
          StatusCode: STATUS_CODES[num(status.code, 'status.code')] ?? '',
          StatusMessage: str(status.message, 'status.message'),
          'Events.Timestamp': events.map((e) => nanosToDateTime(u64(e.timeUnixNano, 'event.timeUnixNano'))),
          'Events.Name': events.map((e) => str(e.name, 'event.name')),
          'Events.Attributes': events.map((e) => attributes(e.attributes, 'event.attributes')),
          'Links.TraceId': links.map((l) => idHex(l.traceId, 'link.traceId')),
          'Links.SpanId': links.map((l) => idHex(l.spanId, 'link.spanId')),
          'Links.TraceState': links.map((l) => str(l.traceState, 'link.traceState')),
          'Links.Attributes': links.map((l) => attributes(l.attributes, 'link.attributes')),
        });
      }
    }
  }
  return rows;
}

export function mapLogs(request: unknown): RowsByTable {
  const rows: RowsByTable = new Map();
  for (const rl of arr(obj(request, 'request').resourceLogs, 'resourceLogs')) {
    const resourceBlock = obj(rl, 'resourceLogs[]');
    const resource = resourceInfo(resourceBlock);
    for (const sl of arr(resourceBlock.scopeLogs, 'scopeLogs')) {
      const scopeBlock = obj(sl, 'scopeLogs[]');
      const scope = scopeInfo(scopeBlock);
      for (const l of arr(scopeBlock.logRecords, 'logRecords')) {
        const log = obj(l, 'logRecord');
        let time = u64(log.timeUnixNano, 'timeUnixNano');
        if (time === '0') time = u64(log.observedTimeUnixNano, 'observedTimeUnixNano');
        push(rows, OTEL_TABLES.logs, {
          Timestamp: nanosToDateTime(time),
          TraceId: idHex(log.traceId, 'traceId'),
          SpanId: idHex(log.spanId, 'spanId'),
          TraceFlags: num(log.flags, 'flags') & 0xff,
          SeverityText: str(log.severityText, 'severityText'),
          SeverityNumber: num(log.severityNumber, 'severityNumber'),
          ServiceName: resource.serviceName,
          Body: log.body === undefined ? '' : anyValueString(log.body),
          ResourceSchemaUrl: resource.schemaUrl,
          ResourceAttributes: resource.attributes,
          ScopeSchemaUrl: scope.schemaUrl,
          ScopeName: scope.name,
          ScopeVersion: scope.version,
          ScopeAttributes: scope.attributes,
          LogAttributes: attributes(log.attributes, 'attributes'),
          EventName: str(log.eventName, 'eventName'),
        });
      }
    }
  }
  return rows;
}

function exemplarColumns(value: unknown): Row {
  const exemplars = arr(value, 'exemplars').map((e) => obj(e, 'exemplar'));
  return {
    'Exemplars.FilteredAttributes': exemplars.map((e) =>
      attributes(e.filteredAttributes, 'exemplar.filteredAttributes'),
    ),
    'Exemplars.TimeUnix': exemplars.map((e) => nanosToDateTime(u64(e.timeUnixNano, 'exemplar.timeUnixNano'))),
    'Exemplars.Value': exemplars.map((e) =>
      e.asInt !== undefined ? num(e.asInt, 'asInt') : num(e.asDouble, 'asDouble'),
    ),
    'Exemplars.SpanId': exemplars.map((e) => idHex(e.spanId, 'exemplar.spanId')),
    'Exemplars.TraceId': exemplars.map((e) => idHex(e.traceId, 'exemplar.traceId')),
  };
}

export function mapMetrics(request: unknown): RowsByTable {
  const rows: RowsByTable = new Map();
  for (const rm of arr(obj(request, 'request').resourceMetrics, 'resourceMetrics')) {
    const resourceBlock = obj(rm, 'resourceMetrics[]');
    const resource = resourceInfo(resourceBlock);
    for (const sm of arr(resourceBlock.scopeMetrics, 'scopeMetrics')) {
      const scopeBlock = obj(sm, 'scopeMetrics[]');
      const scope = scopeInfo(scopeBlock);
      for (const m of arr(scopeBlock.metrics, 'metrics')) {
        const metric = obj(m, 'metric');
        const head = (point: Obj): Row => ({
          ResourceAttributes: resource.attributes,
          ResourceSchemaUrl: resource.schemaUrl,
          ScopeName: scope.name,
          ScopeVersion: scope.version,
          ScopeAttributes: scope.attributes,
          ScopeDroppedAttrCount: scope.dropped,
          ScopeSchemaUrl: scope.schemaUrl,
          ServiceName: resource.serviceName,
          MetricName: str(metric.name, 'metric.name'),
          MetricDescription: str(metric.description, 'metric.description'),
          MetricUnit: str(metric.unit, 'metric.unit'),
          Attributes: attributes(point.attributes, 'attributes'),
          StartTimeUnix: nanosToDateTime(u64(point.startTimeUnixNano, 'startTimeUnixNano')),
          TimeUnix: nanosToDateTime(u64(point.timeUnixNano, 'timeUnixNano')),
        });
        const points = (data: unknown, what: string): Obj[] =>
          arr(obj(data, what).dataPoints, `${what}.dataPoints`).map((p) => obj(p, 'dataPoint'));
        const numberValue = (p: Obj): number =>
          p.asInt !== undefined ? num(p.asInt, 'asInt') : num(p.asDouble, 'asDouble');
        if (metric.gauge !== undefined) {
          for (const p of points(metric.gauge, 'gauge')) {
            push(rows, OTEL_TABLES.gauge, {
              ...head(p),
              Value: numberValue(p),
              Flags: num(p.flags, 'flags'),
              ...exemplarColumns(p.exemplars),
            });
          }
        } else if (metric.sum !== undefined) {
          const sum = obj(metric.sum, 'sum');
          for (const p of points(sum, 'sum')) {
            push(rows, OTEL_TABLES.sum, {
              ...head(p),
              Value: numberValue(p),
              Flags: num(p.flags, 'flags'),
              ...exemplarColumns(p.exemplars),
              AggregationTemporality: num(sum.aggregationTemporality, 'aggregationTemporality'),
              IsMonotonic: sum.isMonotonic === true,
            });
          }
        } else if (metric.histogram !== undefined) {
          const histogram = obj(metric.histogram, 'histogram');
          for (const p of points(histogram, 'histogram')) {
            push(rows, OTEL_TABLES.histogram, {
              ...head(p),
              Count: u64(p.count, 'count'),
              Sum: num(p.sum, 'sum'),
              BucketCounts: arr(p.bucketCounts, 'bucketCounts').map((c) => u64(c, 'bucketCounts[]')),
              ExplicitBounds: arr(p.explicitBounds, 'explicitBounds').map((b) => num(b, 'explicitBounds[]')),
              ...exemplarColumns(p.exemplars),
              Flags: num(p.flags, 'flags'),
              Min: num(p.min, 'min'),
              Max: num(p.max, 'max'),
              AggregationTemporality: num(histogram.aggregationTemporality, 'aggregationTemporality'),
            });
          }
        } else if (metric.exponentialHistogram !== undefined) {
          const histogram = obj(metric.exponentialHistogram, 'exponentialHistogram');
          for (const p of points(histogram, 'exponentialHistogram')) {
            const positive = obj(p.positive, 'positive');
            const negative = obj(p.negative, 'negative');
            push(rows, OTEL_TABLES.exponentialHistogram, {
              ...head(p),
              Count: u64(p.count, 'count'),
              Sum: num(p.sum, 'sum'),
              Scale: num(p.scale, 'scale'),
              ZeroCount: u64(p.zeroCount, 'zeroCount'),
              PositiveOffset: num(positive.offset, 'positive.offset'),
              PositiveBucketCounts: arr(positive.bucketCounts, 'positive.bucketCounts').map((c) =>
                u64(c, 'bucketCounts[]'),
              ),
              NegativeOffset: num(negative.offset, 'negative.offset'),
              NegativeBucketCounts: arr(negative.bucketCounts, 'negative.bucketCounts').map((c) =>
                u64(c, 'bucketCounts[]'),
              ),
              ...exemplarColumns(p.exemplars),
              Flags: num(p.flags, 'flags'),
              Min: num(p.min, 'min'),
              Max: num(p.max, 'max'),
              AggregationTemporality: num(histogram.aggregationTemporality, 'aggregationTemporality'),
            });
          }
        } else if (metric.summary !== undefined) {
          for (const p of points(metric.summary, 'summary')) {
            const quantiles = arr(p.quantileValues, 'quantileValues').map((q) => obj(q, 'quantileValue'));
            push(rows, OTEL_TABLES.summary, {
              ...head(p),
              Count: u64(p.count, 'count'),
              Sum: num(p.sum, 'sum'),
              'ValueAtQuantiles.Quantile': quantiles.map((q) => num(q.quantile, 'quantile')),
              'ValueAtQuantiles.Value': quantiles.map((q) => num(q.value, 'value')),
              Flags: num(p.flags, 'flags'),
            });
          }
        }
      }
    }
  }
  return rows;
}
