/**
 * Bundle each k6 script (scripts/<scenario>.ts) into one self-contained file with esbuild: the scenario
 * definitions, SLO table, checks and @fhirwatch/contract's field checker are inlined; only `k6` and `k6/*`
 * imports are left (k6 provides them). `node --conditions=fhirwatch-source k6/build.ts [outDir]`
 * (default k6/dist). k6 itself is never installed or run here.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { SCENARIO_NAMES } from '../src/scenarios.ts';

const contractDir = fileURLToPath(new URL('../../packages/contract/src/', import.meta.url));

/**
 * @fhirwatch/contract's modules are side-effect free for the scripts: a module none of whose exports the
 * scripts use (the request classifier, which makes a TextDecoder at load time) is left out of the bundle.
 */
const contractWithoutSideEffects: Plugin = {
  name: 'contract-side-effect-free',
  setup(b) {
    b.onResolve({ filter: /^@fhirwatch\/contract$/ }, () => ({
      path: join(contractDir, 'index.ts'),
      sideEffects: false,
    }));
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(contractDir)) return undefined;
      return { path: resolve(dirname(args.importer), args.path), sideEffects: false };
    });
  },
};

export async function bundleK6Scripts(outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  for (const name of SCENARIO_NAMES) {
    const outfile = join(outDir, `${name}.js`);
    await build({
      entryPoints: [fileURLToPath(new URL(`./scripts/${name}.ts`, import.meta.url))],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2020',
      external: ['k6', 'k6/*'],
      conditions: ['fhirwatch-source'],
      mainFields: ['module', 'main'],
      legalComments: 'none',
      logLevel: 'warning',
      plugins: [contractWithoutSideEffects],
    });
    files.push(outfile);
  }
  return files;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? fileURLToPath(new URL('./dist/', import.meta.url));
  const files = await bundleK6Scripts(out);
  process.stdout.write(`${files.join('\n')}\n`);
}
