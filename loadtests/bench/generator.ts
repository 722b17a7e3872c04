/**
 * One bench round in its own process: `generator.ts <engine> <url> <connections> <seconds>` prints
 * `{ requests, rps, perCpuSecond }` after a 1 s warm-up of the same engine. `runner`: the open-model runner
 * (default workers: this process is pinned to one CPU, so this thread) in throughput mode at an arrival rate
 * far above what one core can issue, at most `connections` in flight, every answer's status and identity
 * checked, the deep field checks on one answer in 16; `runner-full`: the same with every check on every answer;
 * `autocannon`: autocannon's closed model on the same connections, one static GET, no checks.
 */
import autocannon from 'autocannon';
import { FhirSession, resolveScenario, runOpenModel } from '../src/index.ts';

const [engine, url, connectionsText, secondsText] = process.argv.slice(2) as [string, string, string, string];
const connections = Number(connectionsText);
const seconds = Number(secondsText);
const CHECKS = engine === 'runner-full' ? 'full' : 'throughput';
let cpuBefore = process.cpuUsage();
const cpuSeconds = (): number => {
  const u = process.cpuUsage(cpuBefore);
  return (u.user + u.system) / 1e6;
};
if (engine === 'runner' || engine === 'runner-full') {
  const scenario = resolveScenario('smoke', {
    rate: 200_000,
    durationS: seconds,
    maxInFlight: connections,
    mix: { read: 1 },
  });
  const target = { baseUrl: url, fhirVersion: 'STU3', clientId: 'bench', clientSecret: 'bench' } as const;
  // Discovery, token and the patient sample happen before the clock starts (as a real run's setup does).
  const session = new FhirSession(target);
  const setup = await session.setup();
  await session.close();
  const once = (durationS: number) =>
    runOpenModel({
      target,
      setup,
      scenario: resolveScenario('smoke', { rate: 200_000, durationS, maxInFlight: connections, mix: { read: 1 } }),
      checks: CHECKS,
      connections,
    });
  // Warm-up (JIT, connections), not measured: both engines get one.
  await once(1);
  cpuBefore = process.cpuUsage();
  // The runner's defaults: worker threads when the cores allow (this process is pinned to one CPU by
  // run.ts, so one: this thread), and throughput mode (every status and resource identity checked, the
  // deep field checks sampled).
  const run = await runOpenModel({ target, setup, scenario, checks: CHECKS, connections });
  const elapsed = (run.finishedAt.getTime() - run.startedAt.getTime()) / 1000;
  const requests = run.metrics.requests;
  process.stdout.write(
    `${JSON.stringify({ requests, rps: requests / elapsed, perCpuSecond: requests / cpuSeconds(), failures: run.metrics.failures })}\n`,
  );
} else {
  await autocannon({ url: `${url}/Patient/p1`, connections, duration: 1, pipelining: 1 });
  cpuBefore = process.cpuUsage();
  const result = await autocannon({ url: `${url}/Patient/p1`, connections, duration: seconds, pipelining: 1 });
  process.stdout.write(
    `${JSON.stringify({ requests: result.requests.total, rps: result.requests.total / seconds, perCpuSecond: result.requests.total / cpuSeconds(), failures: result.non2xx + result.errors })}\n`,
  );
}
