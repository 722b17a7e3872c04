/**
 * Load generator, run in its own process (pinned to the other core by run.ts): autocannon against
 * one URL for a fixed duration. stdin = JSON `{ url, method, paths?, bodies?, connections, seconds }`.
 * Prints one JSON line `{ requests, rps, non2xx, errors, p50, p99 }`.
 */
import autocannon from 'autocannon';

interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  paths?: string[];
  bodies?: string[];
  connections: number;
  seconds: number;
}

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const spec = JSON.parse(Buffer.concat(chunks).toString('utf8')) as LoadSpec;
// Static request lists: autocannon prebuilds each request once and cycles through them, which
// keeps the load generator cheap (a setupRequest callback per request costs it ~30 % throughput).
const requests: autocannon.Request[] =
  spec.method === 'GET'
    ? (spec.paths ?? ['/']).map((path) => ({ method: 'GET', path }))
    : (spec.bodies ?? ['{}']).map((body) => ({
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/fhir+json' },
        body,
      }));

const result = await autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.seconds,
  pipelining: 1,
  requests,
});
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.total / spec.seconds,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50: result.latency.p50,
    p99: result.latency.p99,
  })}\n`,
);
