#!/usr/bin/env node
// Entry of the `fhirwatch` command. In a checkout it runs the TypeScript source directly (Node's
// type stripping, with the `fhirwatch-source` export condition added by a resolve hook), so no build
// step stands between an edit and `npx fhirwatch`; a published install runs the compiled dist.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Reuse compiled (and type-stripped) modules across runs: an officer runs many short commands, and loading the
// code is most of a short command's time (bench/startup.ts). Node keeps the cache in its temp dir (or
// NODE_COMPILE_CACHE); a changed file is recompiled.
module.enableCompileCache?.();

const source = new URL('../src/main.ts', import.meta.url);
if (existsSync(source) && process.features.typescript) {
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      return nextResolve(specifier, { ...context, conditions: [...context.conditions, 'fhirwatch-source'] });
    },
  });
  await import(source.href);
} else {
  await import(new URL('../dist/main.js', import.meta.url).href);
}
