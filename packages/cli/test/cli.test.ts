import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fhirwatch.js', import.meta.url));

describe('fhirwatch command', () => {
  it('prints its version and the Node.js it runs on', async () => {
    const { stdout } = await run(process.execPath, [bin, 'version']);
    expect(stdout).toMatch(/^fhirwatch \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+\)\n$/);
  });

  it('rejects an unknown command with exit code 2 and the list of commands', async () => {
    const failure = await run(process.execPath, [bin, 'no-such-command']).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain("unknown command 'no-such-command'");
    expect((failure as { stdout: string }).stdout).toContain('version');
  });
});
