/** JUnit XML for CI systems: one test case per SLO verdict and per check (load test), per conformance check. */

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface JunitCase {
  name: string;
  classname: string;
  /** Failure message; undefined when the case passed. */
  failure?: string;
  /** Skip reason; undefined when the case ran. */
  skipped?: string;
  /** Seconds (optional). */
  time?: number;
}

export interface JunitSuite {
  name: string;
  cases: readonly JunitCase[];
}

export function renderJunit(suites: readonly JunitSuite[]): string {
  const total = suites.reduce((n, s) => n + s.cases.length, 0);
  const failures = suites.reduce((n, s) => n + s.cases.filter((c) => c.failure !== undefined).length, 0);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="fhirwatch" tests="${total}" failures="${failures}">`,
  ];
  for (const suite of suites) {
    const f = suite.cases.filter((c) => c.failure !== undefined).length;
    const skipped = suite.cases.filter((c) => c.skipped !== undefined).length;
    lines.push(
      `  <testsuite name="${escapeXml(suite.name)}" tests="${suite.cases.length}" failures="${f}" skipped="${skipped}">`,
    );
    for (const c of suite.cases) {
      const time = c.time === undefined ? '' : ` time="${c.time.toFixed(3)}"`;
      const open = `    <testcase classname="${escapeXml(c.classname)}" name="${escapeXml(c.name)}"${time}`;
      if (c.skipped !== undefined && c.failure === undefined) {
        lines.push(`${open}>`, `      <skipped message="${escapeXml(c.skipped)}"/>`, '    </testcase>');
      } else if (c.failure === undefined) lines.push(`${open}/>`);
      else lines.push(`${open}>`, `      <failure message="${escapeXml(c.failure)}"/>`, '    </testcase>');
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
