/**
 * The trivial FHIR server the bench loads: precomputed answers for /metadata (with the OAuth URIs
 * extension naming its own /token), /token, POST /Patient/_search and GET /Patient/{id}. Prints its URL.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ type: { coding: [{ system: 'http://hl7.org/fhir/v2/0203', code: 'MR' }] }, value: 'MRN1' }],
  name: [{ family: 'Bench', given: ['Mark'] }],
  gender: 'female',
  birthDate: '1970-01-01',
};
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const read = json(patient);
const search = json({ resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ resource: patient }] });
const token = json({ access_token: 'bench-token', token_type: 'Bearer', expires_in: 3600 });
let metadata: Buffer = Buffer.alloc(0);

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const body =
    url === '/metadata' ? metadata : url === '/token' ? token : url.startsWith('/Patient/_search') ? search : read;
  req.resume();
  res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  metadata = json({
    resourceType: 'CapabilityStatement',
    fhirVersion: '3.0.2',
    rest: [
      {
        mode: 'server',
        security: {
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${base}/token` }],
            },
          ],
        },
      },
    ],
  });
  process.stdout.write(`${base}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
