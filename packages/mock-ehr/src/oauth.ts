/**
 * The mock EHR's OAuth endpoints, so its `/metadata` can carry the OAuth URIs extension the seed
 * requires (`token` and `authorize` are both 1..1 there). The mock does not authenticate: `/token`
 * grants any client credentials request an opaque token the FHIR routes never check; `/authorize`
 * answers `unsupported_response_type` (the Patients app uses client credentials, which has no
 * authorization endpoint). Errors follow RFC 6749 §5.2 / §4.1.2.1, not FHIR.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const OAUTH_PATHS: ReadonlySet<string> = new Set(['/token', '/authorize']);

const TOKEN_BODY_LIMIT = 16 * 1024;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': payload.length,
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= TOKEN_BODY_LIMIT) chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > TOKEN_BODY_LIMIT ? undefined : new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
    );
    req.on('error', () => resolve(undefined));
  });
}

/** Answer `/token` or `/authorize` (`path` relative to the FHIR base). */
export async function handleOAuth(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  res.on('error', () => {});
  if (path === '/authorize') {
    req.resume();
    json(res, 400, {
      error: 'unsupported_response_type',
      error_description: 'this server supports the client credentials grant only',
    });
    return;
  }
  if (req.method !== 'POST') {
    req.resume();
    json(res, 405, { error: 'invalid_request', error_description: 'use POST' }, { allow: 'POST' });
    return;
  }
  const form = await readForm(req);
  if (form === undefined) {
    json(res, 400, { error: 'invalid_request', error_description: 'malformed or oversized form body' });
    return;
  }
  if (form.get('grant_type') !== 'client_credentials') {
    json(res, 400, { error: 'unsupported_grant_type', error_description: 'only client_credentials is supported' });
    return;
  }
  json(res, 200, { access_token: randomBytes(24).toString('base64url'), token_type: 'Bearer', expires_in: 3600 });
}
