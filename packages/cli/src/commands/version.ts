import { readFileSync } from 'node:fs';

export const description = 'Print the fhirwatch version and the Node.js it runs on';

export async function run(): Promise<number> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`fhirwatch ${pkg.version} (node ${process.version})\n`);
  return 0;
}
