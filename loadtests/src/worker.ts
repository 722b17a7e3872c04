/** Worker thread of the open-model runner: runs one shard and posts ticks and its metrics snapshot. */
import { parentPort, workerData } from 'node:worker_threads';
import { runShard, type ShardConfig } from './runner.ts';
import type { SessionSetup } from './session.ts';

const { config, setup, startAt } = workerData as { config: ShardConfig; setup: SessionSetup; startAt: number };
const controller = new AbortController();
parentPort?.on('message', (message: { type: string }) => {
  if (message.type === 'abort') controller.abort();
});
const result = await runShard(config, setup, {
  signal: controller.signal,
  startAt,
  onTick: (tick) => parentPort?.postMessage({ type: 'tick', tick }),
});
parentPort?.postMessage({ type: 'done', result });
parentPort?.close();
