/**
 * projectBody (the disclosure scanner) against JSON.parse: the contract's disclosure functions must
 * give the same answer on the projection as on the parsed body, for tricky JSON (strings holding
 * braces, brackets, quotes and escapes, escaped keys, members in any order, whitespace) and for
 * seeded random documents; malformed text must give `undefined` like a failed JSON.parse. The same
 * assertions run on the streaming scanner that replaced it (src/stream-scan.ts) and on the baseline.
 */
import {
  type Classification,
  classifyRequest,
  disclosedPatients,
  disclosedPatientsInBatch,
  listRefreshBundle,
} from '@fhirwatch/contract';
import { describe, expect, it } from 'vitest';
import { scanBody } from '../src/stream-scan.ts';
import { projectBody as baselineProjectBody } from './baseline-json-scan.ts';

type Project = typeof baselineProjectBody;
/** The streaming scanner with the baseline's signature (the body as UTF-8 bytes in one chunk). */
const streamProjectBody: Project = (text, batch, detail) => scanBody(Buffer.from(text, 'utf8'), batch, detail);

function classify(method: string, path: string, body?: unknown): Classification {
  return classifyRequest({
    method,
    path,
    headers: { 'content-type': 'application/fhir+json' },
    fhirVersion: 'STU3',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const search = classify('GET', '/Patient?name=x');
const first = (c: Classification) => c.interactions[0] as Classification['interactions'][number];

function sameSingle(projectBody: Project, text: string): void {
  const projected = projectBody(text, false, () => 'patients');
  expect(disclosedPatients(first(search), projected)).toEqual(disclosedPatients(first(search), JSON.parse(text)));
}

const tricky = [
  // braces, brackets, quotes, backslashes inside strings; an escaped quote before a closing quote
  `{"resourceType":"Bundle","type":"searchset","total":2,"entry":[{"fullUrl":"x{[\\"]}","resource":{"resourceType":"Patient","id":"p-1","name":[{"text":"O'Brien \\"{Bob}\\" [x] \\\\"}]},"search":{"mode":"match"}},{"resource":{"resourceType":"Patient","id":"p\\"2","note":"}}]]"}}]}`,
  // escaped key names (\\u0054 = T), unicode, pretty-printed with tabs and CRLF
  `{\r\n\t"resource\\u0054ype" : "Bundle" ,\r\n\t"entry" : [ { "resource" : { "id" : "\\u00e9t\\u00e9" , "resourceType" : "Patient" } } ] }`,
  // resourceType after entry; an include with mode "include"; an OperationOutcome entry
  `{"entry":[{"search":{"mode":"include"},"resource":{"resourceType":"Patient","id":"inc"}},{"resource":{"resourceType":"OperationOutcome","issue":[]}},{"resource":{"resourceType":"Observation","subject":{"reference":"Patient/obs-p"},"valueString":"a\\\\"}}],"resourceType":"Bundle","total":1e0}`,
  // duplicate keys: the last one wins (like JSON.parse)
  `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"first","id":"second"}}],"entry":[{"resource":{"resourceType":"Patient","id":"third"}}]}`,
  // a single resource, not a Bundle; numbers, booleans, null, nested empties
  `{"resourceType":"Patient","id":"solo","active":true,"deceasedBoolean":false,"x":null,"y":[],"z":{},"n":-1.5e-3}`,
  // entries that are not objects; empty entry array
  `{"resourceType":"Bundle","entry":[null,1,"s",[],{"resource":null}]}`,
  `{"resourceType":"Bundle","entry":[]}`,
  `  {"resourceType":"List","entry":[{"item":{"reference":"Patient/l1"}}],"subject":{"reference":"Patient/list-p"}}  `,
];

for (const [name, projectBody] of [
  ['projectBody (baseline string scanner)', baselineProjectBody],
  ['StreamScanner (src/stream-scan.ts)', streamProjectBody],
] as const)
  describe(name, () => {
    it('gives the contract the same disclosure as JSON.parse on tricky JSON', () => {
      for (const text of tricky) sameSingle(projectBody, text);
    });

    it('gives the same batch disclosures and entry statuses as JSON.parse (Location ← Encounter attribution)', () => {
      const request = listRefreshBundle('STU3', ['a1']);
      request.entry.push({ request: { method: 'GET', url: 'Location/loc-1' } });
      const cls = classify('POST', '/', request);
      const searchset = (resources: unknown[]) => ({
        resourceType: 'Bundle',
        type: 'searchset',
        total: resources.length,
        entry: resources.map((r) => ({ resource: r, search: { mode: 'match' } })),
      });
      const response = {
        type: 'batch-response',
        entry: [
          {
            response: { status: '200 OK' },
            resource: { resourceType: 'Patient', id: 'a1', text: { div: '<div>{"}</div>' } },
          },
          {
            resource: searchset([{ resourceType: 'Observation', subject: { reference: 'Patient/a1' }, note: '"]}' }]),
            response: { status: '200' },
          },
          {
            response: { status: '404 Not Found' },
            resource: { resourceType: 'OperationOutcome', issue: [{ diagnostics: '\\' }] },
          },
          {
            resource: searchset([
              {
                location: [{ location: { reference: 'Location/loc-1' } }],
                resourceType: 'Encounter',
                subject: { reference: 'Patient/a1' },
              },
            ]),
            response: { status: '200 OK' },
          },
          { resource: searchset([]), response: { status: '200 OK' } },
          {
            resource: searchset([{ resourceType: 'MedicationRequest', subject: { reference: 'Patient/other' } }]),
            response: { status: '200 OK' },
          },
          { resource: searchset([]), response: { status: '200 OK' } },
          { resource: { resourceType: 'Location', id: 'loc-1', name: 'Ward {7}' }, response: { status: '200 OK' } },
        ],
        resourceType: 'Bundle',
      };
      for (const text of [JSON.stringify(response), JSON.stringify(response, null, 2)]) {
        const projected = projectBody(text, true, () => 'patients') as { entry: { response: unknown }[] };
        const parsed = JSON.parse(text) as typeof response;
        expect(disclosedPatientsInBatch(cls, projected)).toEqual(disclosedPatientsInBatch(cls, parsed));
        expect(projected.entry.map((e) => e.response)).toEqual(parsed.entry.map((e) => e.response));
        // 'types' keeps result counts and statuses, not patients
        const types = projectBody(text, true, () => 'types') as { entry: { response: unknown }[] };
        expect(disclosedPatientsInBatch(cls, types).map((d) => d.resultCount)).toEqual(
          disclosedPatientsInBatch(cls, parsed).map((d) => d.resultCount),
        );
        expect(types.entry.map((e) => e.response)).toEqual(parsed.entry.map((e) => e.response));
        // skipped resources: statuses only
        const skipped = projectBody(text, true, () => undefined) as { entry: Record<string, unknown>[] };
        expect(skipped.entry.map((e) => e.response)).toEqual(parsed.entry.map((e) => e.response));
        expect(skipped.entry.every((e) => e.resource === undefined)).toBe(true);
      }
    });

    it('returns undefined for text JSON.parse refuses', () => {
      const bad = [
        '',
        '   ',
        '{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p"}]}',
        '{"resourceType":"Bundle"',
        '{"resourceType":"Patient","id":"unterminated}',
        '{"resourceType":"Patient"} trailing',
        '{"resourceType" "Patient"}',
        '{"resourceType":"Patient",}',
        '{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p"}},]}',
        '{"resourceType":"Patient","id":tru}',
        '[1,2',
      ];
      for (const text of bad) {
        expect(() => JSON.parse(text)).toThrow();
        expect(projectBody(text, false, () => 'patients')).toBeUndefined();
        expect(projectBody(text, true, () => 'patients')).toBeUndefined();
      }
    });

    it('is lenient only inside values it skips: a malformed literal there is not detected (documented)', () => {
      const text = '{"resourceType":"Patient","id":"p","name":[{"text":tru}]}';
      expect(() => JSON.parse(text)).toThrow();
      expect(projectBody(text, false, () => 'patients')).toEqual({ resourceType: 'Patient', id: 'p' });
    });

    it('matches JSON.parse on 300 seeded random searchsets with hostile strings', () => {
      let seed = 12345;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const alphabet = [
        '{',
        '}',
        '[',
        ']',
        '"',
        '\\',
        ':',
        ',',
        ' ',
        'a',
        'é',
        '\n',
        '\u2028',
        'Patient/',
        'resourceType',
      ];
      const str = (): string => Array.from({ length: rand(12) }, () => alphabet[rand(alphabet.length)]).join('');
      const value = (depth: number): unknown => {
        const k = rand(depth > 3 ? 4 : 7);
        if (k === 0) return str();
        if (k === 1) return rand(1000) - 500;
        if (k === 2) return rand(2) === 0;
        if (k === 3) return null;
        if (k === 4) return Array.from({ length: rand(4) }, () => value(depth + 1));
        const o: Record<string, unknown> = {};
        for (let i = rand(4); i > 0; i--) o[str()] = value(depth + 1);
        return o;
      };
      const types = ['Patient', 'Observation', 'Encounter', 'OperationOutcome', 'Coverage'];
      for (let n = 0; n < 300; n++) {
        const entry = Array.from({ length: rand(6) }, () => {
          const resource: Record<string, unknown> = {
            [str()]: value(0),
            resourceType: types[rand(types.length)],
            id: str(),
          };
          if (rand(2) === 0) resource.subject = { reference: `Patient/${str()}` };
          if (rand(3) === 0) resource.beneficiary = { reference: str() };
          resource[str()] = value(0);
          const e: Record<string, unknown> = { fullUrl: str(), resource };
          if (rand(2) === 0) e.search = { mode: rand(2) === 0 ? 'match' : 'include' };
          return e;
        });
        const text = JSON.stringify(
          { resourceType: 'Bundle', [str()]: value(0), entry, total: rand(9) },
          null,
          rand(2) === 0 ? undefined : 1,
        );
        sameSingle(projectBody, text);
      }
    });
  });
