/**
 * The streaming scanner (src/stream-scan.ts) against the string scanner it replaced (the baseline,
 * test/baseline-json-scan.ts): on real mock-EHR bodies of both FHIR versions (searchsets, a read, a
 * list-refresh batch-response, Encounters with locations, an OperationOutcome), the projection must be
 * identical whatever the chunking: a boundary at every byte offset (one-byte chunks, every body; two
 * chunks split at each offset of the smaller bodies and across a batch-response), and seeded random
 * chunk sizes; at every detail the pipeline uses.
 */

import { isDeepStrictEqual } from 'node:util';
import { type FhirVersion, listRefreshBundle } from '@fhirwatch/contract';
import { startMockEhr } from '@fhirwatch/mock-ehr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ResourceDetail, StreamScanner, scanBody } from '../src/stream-scan.ts';
import { projectBody } from './baseline-json-scan.ts';

interface Body {
  name: string;
  text: string;
  bytes: Buffer;
  batch: boolean;
}

const bodies: Body[] = [];
const stops: (() => Promise<void>)[] = [];

async function collect(version: FhirVersion): Promise<void> {
  const ehr = await startMockEhr({ fhirVersion: version, patients: 40, seed: 7 });
  stops.push(() => ehr.close());
  const ids = ehr.population.patients.slice(0, 5).map((p) => p.id);
  const get = async (name: string, path: string): Promise<void> => {
    const res = await fetch(`${ehr.url}${path}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    bodies.push({ name: `${version} ${name}`, text: bytes.toString('utf8'), bytes, batch: false });
  };
  await get('searchset of 3 patients', '/Patient?_count=3');
  await get('read', `/Patient/${ids[0]}`);
  await get('not found (OperationOutcome)', '/Patient/no-such-patient');
  await get('encounters with locations', `/Encounter?patient=${ids[1]}&_count=3`);
  const post = async (name: string, patients: string[]): Promise<void> => {
    const res = await fetch(`${ehr.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(listRefreshBundle(version, patients)),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    bodies.push({ name: `${version} ${name}`, text: bytes.toString('utf8'), bytes, batch: true });
  };
  await post('list-refresh batch of 1 patient', ids.slice(0, 1));
  await post('list-refresh batch of 5 patients', ids);
}

beforeAll(async () => {
  await collect('STU3');
  await collect('DSTU2');
});

afterAll(async () => {
  for (const stop of stops) await stop();
});

const DETAILS: [string, (i: number) => ResourceDetail | undefined][] = [
  ['patients', () => 'patients'],
  ['types', () => 'types'],
  ['mixed per entry', (i) => (i < 0 ? 'types' : i % 3 === 0 ? 'patients' : i % 3 === 1 ? 'types' : undefined)],
];

function scanChunks(chunks: Buffer[], batch: boolean, detail: (i: number) => ResourceDetail | undefined): unknown {
  const scanner = new StreamScanner(batch, detail);
  for (const c of chunks) scanner.write(c);
  return scanner.result();
}

/** Splits of a body into two chunks at `offsets`, compared against the baseline (the differing ones returned). */
function splits(
  body: Body,
  detail: (i: number) => ResourceDetail | undefined,
  expected: unknown,
  offsets: Iterable<number>,
): number[] {
  const bad: number[] = [];
  for (const k of offsets) {
    const got = scanChunks([body.bytes.subarray(0, k), body.bytes.subarray(k)], body.batch, detail);
    if (!isDeepStrictEqual(got, expected)) {
      bad.push(k);
      if (bad.length > 5) break;
    }
  }
  return bad;
}

describe('streaming scanner = baseline string scanner on real mock-EHR bodies', () => {
  it('collected both versions, every body shape', () => {
    expect(bodies.map((b) => b.name)).toHaveLength(12);
    // the bodies hold what the scanner must find: patient references, statuses, totals, locations
    const text = bodies.map((b) => b.text).join('\n');
    for (const needle of ['"subject"', '"status":"200', '"total"', '"location"', '"OperationOutcome"', '"match"']) {
      expect(text).toContain(needle);
    }
  });

  it('gives the baseline projection with the body in one chunk', () => {
    for (const body of bodies) {
      for (const [, detail] of DETAILS) {
        const expected = projectBody(body.text, body.batch, detail);
        expect(expected).toBeDefined();
        expect(scanBody(body.bytes, body.batch, detail), body.name).toEqual(expected);
      }
    }
  });

  it('gives the same projection split in two at every byte offset (searchsets, read, OperationOutcome)', () => {
    for (const body of bodies.filter((b) => !b.batch)) {
      for (const [name, detail] of DETAILS) {
        const expected = projectBody(body.text, body.batch, detail);
        const every = Array.from({ length: body.bytes.length + 1 }, (_, k) => k);
        expect(splits(body, detail, expected, every), `${body.name}, ${name}`).toEqual([]);
      }
    }
  }, 120_000);

  it('gives the same projection split in two across a batch-response (every offset of its first 1 KB, every 499th after)', () => {
    // A list-refresh answer is 50–200 KB: a scan per offset of all of it would take minutes; the
    // one-byte chunks below put a boundary at every one of its offsets in one pass.
    for (const body of bodies.filter((b) => b.name.endsWith('batch of 1 patient'))) {
      for (const [name, detail] of DETAILS) {
        const expected = projectBody(body.text, body.batch, detail);
        const offsets: number[] = [];
        for (let k = 0; k <= body.bytes.length; k += k < 1024 ? 1 : 499) offsets.push(k);
        expect(splits(body, detail, expected, offsets), `${body.name}, ${name}`).toEqual([]);
      }
    }
  }, 120_000);

  it('gives the same projection with one-byte chunks and with seeded random chunk sizes', () => {
    let seed = 99;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const body of bodies) {
      for (const [name, detail] of DETAILS) {
        const expected = projectBody(body.text, body.batch, detail);
        const ones: Buffer[] = [];
        for (let i = 0; i < body.bytes.length; i++) ones.push(body.bytes.subarray(i, i + 1));
        expect(scanChunks(ones, body.batch, detail), `${body.name}, ${name}, 1-byte chunks`).toEqual(expected);
        for (let round = 0; round < 20; round++) {
          const chunks: Buffer[] = [];
          for (let at = 0; at < body.bytes.length; ) {
            const size = 1 + rand(round < 10 ? 64 : 4096);
            chunks.push(body.bytes.subarray(at, at + size));
            at += size;
          }
          expect(scanChunks(chunks, body.batch, detail), `${body.name}, ${name}, round ${round}`).toEqual(expected);
        }
      }
    }
  });

  it('is undefined for a cut body, at every cut, like the baseline', () => {
    const body = bodies.find((b) => b.name === 'STU3 encounters with locations') as Body;
    for (let k = 0; k < body.bytes.length; k += 1) {
      const cut = body.bytes.subarray(0, k);
      const expected = projectBody(cut.toString('utf8'), false, () => 'patients');
      expect(expected).toBeUndefined();
      expect(scanChunks([cut.subarray(0, k >> 1), cut.subarray(k >> 1)], false, () => 'patients')).toBeUndefined();
    }
  });

  it('skips long strings full of escaped quotes and backslash runs, split at every offset', () => {
    const note = 'say \\"hi\\" \\\\ "quoted" \\\\\\" ]} {['.repeat(6);
    const body = JSON.stringify({
      resourceType: 'Bundle',
      entry: [
        { resource: { resourceType: 'Patient', note, id: 'p-1', text: { div: note } }, search: { mode: 'match' } },
        { fullUrl: note, resource: { resourceType: 'Observation', subject: { reference: 'Patient/p-1' }, note } },
      ],
    });
    const bytes = Buffer.from(body);
    for (const [, detail] of DETAILS) {
      const expected = projectBody(body, false, detail);
      expect(expected).toBeDefined();
      for (let k = 0; k <= bytes.length; k++) {
        expect(scanChunks([bytes.subarray(0, k), bytes.subarray(k)], false, detail), `split at ${k}`).toEqual(expected);
      }
    }
  });

  it('keeps a non-ASCII value split inside a UTF-8 sequence', () => {
    const text = '{"resourceType":"Patient","id":"pé-€-😀","subject":{"reference":"Patient/ü"}}';
    const bytes = Buffer.from(text);
    const expected = projectBody(text, false, () => 'patients');
    expect(expected).toEqual({ resourceType: 'Patient', id: 'pé-€-😀', subject: { reference: 'Patient/ü' } });
    for (let k = 0; k <= bytes.length; k++) {
      expect(scanChunks([bytes.subarray(0, k), bytes.subarray(k)], false, () => 'patients')).toEqual(expected);
    }
  });
});

/** Every two-chunk split of `text` (and one-byte chunks) scans to the baseline's projection. */
function expectSameAtEverySplit(text: string, batch: boolean, detail: (i: number) => ResourceDetail | undefined): void {
  const bytes = Buffer.from(text);
  const expected = projectBody(text, batch, detail);
  expect(expected).toBeDefined();
  expect(scanBody(bytes, batch, detail)).toEqual(expected);
  for (let k = 0; k <= bytes.length; k++) {
    const got = scanChunks([bytes.subarray(0, k), bytes.subarray(k)], batch, detail);
    if (!isDeepStrictEqual(got, expected)) expect(got, `split at ${k}`).toEqual(expected);
  }
  const ones: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) ones.push(bytes.subarray(i, i + 1));
  expect(scanChunks(ones, batch, detail), 'one-byte chunks').toEqual(expected);
}

describe('streaming scanner: keys, strings and `search` read in place', () => {
  it('matches every key it looks for with a chunk boundary at every byte of it, escaped or not', () => {
    // each walked key, plus near misses (same length, same first byte) and the escaped spellings
    const body = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 2,
      entry: [
        {
          fullUrl: 'x',
          resource: {
            resourceType: 'Encounter',
            id: 'e-1',
            subject: { reference: 'Patient/p-1' },
            patient: { reference: 'Patient/p-2' },
            beneficiary: { reference: 'Patient/p-3' },
            subscriber: { reference: 'Patient/p-4' },
            location: [{ location: { reference: 'Location/l-1' } }],
            resourceTypf: 'near miss',
            subjecT: { reference: 'Patient/not-me' },
          },
          search: { mode: 'match' },
        },
      ],
    };
    const plain = JSON.stringify(body);
    // "resource\u0054ype" is `resourceType` to JSON.parse: the escaped spelling must be read the same
    const escaped = plain
      .replace('"subject":', '"sub\\u006aect":')
      .replace('"total":', '"\\u0074otal":')
      .replace('"id":"e-1"', '"i\\u0064":"e-1"');
    for (const text of [plain, escaped]) {
      for (const [, detail] of DETAILS) expectSameAtEverySplit(text, false, detail);
    }
    expect(scanBody(Buffer.from(escaped), false, () => 'patients')).toMatchObject({
      total: 2,
      entry: [{ resource: { id: 'e-1', subject: { reference: 'Patient/p-1' } } }],
    });
  });

  it('reads string values in place: plain, escaped, non-ASCII, empty, long, and interned ones that collide', () => {
    const ids = [
      'p-1',
      'p-\\"quoted\\"',
      'p-\\\\',
      'pé-€',
      '',
      'x'.repeat(39),
      'y'.repeat(40),
      'z'.repeat(41),
      'a'.repeat(300),
      // same length and same end bytes (one intern slot): each must come back as itself
      'abxc',
      'abyc',
      'aqxc',
    ];
    const entry = ids.map((id) => ({ resource: { resourceType: 'Patient', id }, search: { mode: 'match' } }));
    const text = `{"resourceType":"Bundle","type":"searchset","entry":${JSON.stringify(entry).replaceAll('\\\\\\\\', '\\\\')}}`;
    const parsed = JSON.parse(text) as { entry: { resource: { id: string } }[] };
    const got = scanBody(Buffer.from(text), false, () => 'patients') as { entry: { resource: { id: string } }[] };
    expect(got.entry.map((e) => e.resource.id)).toEqual(parsed.entry.map((e) => e.resource.id));
    for (let round = 0; round < 3; round++) {
      // again, now from the intern cache
      const again = scanBody(Buffer.from(text), false, () => 'patients') as typeof got;
      expect(again.entry.map((e) => e.resource.id)).toEqual(parsed.entry.map((e) => e.resource.id));
    }
    expectSameAtEverySplit(text, false, () => 'patients');
    // a raw control character inside a parsed value is malformed JSON, as for JSON.parse
    expect(
      scanBody(Buffer.from('{"resourceType":"Patient","id":"a\u0001b"}'), false, () => 'patients'),
    ).toBeUndefined();
  });

  it('reads `{"mode":"match"}` in place and anything else like before, split at every offset', () => {
    const searches = [
      { mode: 'match' },
      { mode: 'include' },
      { mode: 'matches' },
      { mode: 'match', score: 1 },
      { score: 0.5, mode: 'match' },
    ];
    const entry = searches.map((search, k) => ({ resource: { resourceType: 'Patient', id: `p-${k}` }, search }));
    const text = JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry });
    for (const [, detail] of DETAILS) expectSameAtEverySplit(text, false, detail);
    // with whitespace inside, it is the same member, read the slow way
    const spaced = text.replace('{"mode":"match"}', '{ "mode" : "match" }');
    expectSameAtEverySplit(spaced, false, () => 'types');
    const got = scanBody(Buffer.from(text), false, () => 'types') as { entry: { search: unknown }[] };
    expect(got.entry.map((e) => e.search)).toEqual(searches);
  });

  it('skips strings longer than the in-place run (native search) with escaped quotes and backslash runs at its edge', () => {
    // strings of 250–270 bytes whose escapes sit around byte 256, where the native quote search takes over
    const notes: string[] = [];
    for (let len = 250; len <= 270; len++) {
      for (const tail of ['\\"', '\\\\', '\\\\\\"', '\\\\\\\\']) notes.push(`${'n'.repeat(len - tail.length)}${tail}`);
    }
    const entry = notes.map((note, k) => ({
      fullUrl: note,
      resource: { resourceType: k % 2 === 0 ? 'Patient' : 'Observation', text: { div: note }, id: `r-${k}`, note },
      search: { mode: 'match' },
    }));
    const text = JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry });
    const bytes = Buffer.from(text);
    for (const [name, detail] of DETAILS) {
      const expected = projectBody(text, false, detail);
      expect(scanBody(bytes, false, detail), name).toEqual(expected);
      // every offset of the first two entries, every 97th after
      const first = text.indexOf('"fullUrl"', text.indexOf('"fullUrl"', text.indexOf('"fullUrl"') + 1) + 1);
      for (let k = 0; k <= bytes.length; k += k < first ? 1 : 97) {
        const got = scanChunks([bytes.subarray(0, k), bytes.subarray(k)], false, detail);
        if (!isDeepStrictEqual(got, expected)) expect(got, `${name}, split at ${k}`).toEqual(expected);
      }
    }
  });

  it('reads only the given length of a reused scratch buffer, whatever stale bytes follow it', () => {
    // capture.ts passes one 64 KB scratch buffer and the length written into it: a quote, backslash or closer
    // after that length must not be seen (a string's native quote search included)
    const long = 'w'.repeat(700);
    const text = JSON.stringify({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { fullUrl: long, resource: { resourceType: 'Patient', id: 'p-1', note: long }, search: { mode: 'match' } },
        { resource: { resourceType: 'Observation', subject: { reference: 'Patient/p-1' } } },
      ],
    });
    const bytes = Buffer.from(text);
    const scratch = Buffer.alloc(4096);
    for (const [name, detail] of DETAILS) {
      const expected = projectBody(text, false, detail);
      for (const size of [1, 7, 64, 301, 400, 512, 1000, 4096]) {
        const scanner = new StreamScanner(false, detail);
        for (let at = 0; at < bytes.length; at += size) {
          scratch.fill('"}\\]');
          const n = bytes.copy(scratch, 0, at, Math.min(at + size, bytes.length));
          scanner.write(scratch, n);
        }
        expect(scanner.result(), `${name}, pieces of ${size}`).toEqual(expected);
      }
    }
  });

  it('is not fooled by nested objects that reuse the walked key names', () => {
    // an extension-like subtree with `resourceType`, `entry`, `resource`, `search`, `subject` and `id`
    const decoy = {
      resourceType: 'Patient',
      id: 'decoy',
      entry: [{ resource: { resourceType: 'Patient', id: 'decoy-2' }, search: { mode: 'match' } }],
      subject: { reference: 'Patient/decoy-3' },
      response: { status: '500' },
    };
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        {
          resource: {
            resourceType: 'Bundle',
            type: 'searchset',
            meta: { tag: [decoy] },
            entry: [
              {
                resource: { resourceType: 'Observation', extension: [decoy], subject: { reference: 'Patient/p-1' } },
                search: { mode: 'match', extension: [decoy] },
              },
              { resource: { resourceType: 'Patient', contained: [decoy], id: 'p-2' }, search: { mode: 'include' } },
            ],
          },
          response: { status: '200 OK', outcome: decoy },
        },
        { resource: decoy, response: { status: '201 Created' } },
      ],
    };
    const text = JSON.stringify(bundle);
    for (const [, detail] of DETAILS) expectSameAtEverySplit(text, true, detail);
    // the walk reads each level's own members only: the decoys nested below are not taken for entries
    const got = scanBody(Buffer.from(text), true, () => 'patients') as {
      entry: { resource: { entry?: { resource: unknown }[] } & Record<string, unknown> }[];
    };
    expect(got.entry).toHaveLength(2);
    expect(got.entry[0]?.resource.entry?.map((e) => e.resource)).toEqual([
      { resourceType: 'Observation', subject: { reference: 'Patient/p-1' } },
      { resourceType: 'Patient', id: 'p-2' },
    ]);
    expect(got.entry[1]?.resource).toEqual({
      resourceType: 'Patient',
      id: 'decoy',
      subject: { reference: 'Patient/decoy-3' },
    });
  });
});
