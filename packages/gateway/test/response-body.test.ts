import { describe, expect, it } from 'vitest';
import { responseBody } from '../src/index.ts';

const provider = {
  baseUrl: 'http://ehr.internal:8080/fhir',
  baseUrlBytes: Buffer.from('http://ehr.internal:8080/fhir'),
};
const bytes = (body: Buffer | string): Buffer => (typeof body === 'string' ? Buffer.from(body, 'latin1') : body);

describe('responseBody', () => {
  it('rewrites the provider base byte-exactly, with UTF-8 text and chunk boundaries anywhere', () => {
    const text = `{"fullUrl":"${provider.baseUrl}/Patient/1","name":"Zoë Müller 李","link":"${provider.baseUrl}/Patient?_count=1"}`;
    const expected = Buffer.from(text.replaceAll(provider.baseUrl, 'https://gw.example/t'), 'utf8');
    const whole = Buffer.from(text, 'utf8');
    for (let cut = 1; cut < whole.length; cut += 1) {
      const out = responseBody([whole.subarray(0, cut), whole.subarray(cut)], provider, 'https://gw.example/t');
      expect(bytes(out).equals(expected)).toBe(true);
      expect(out.length).toBe(expected.length);
    }
    expect(bytes(responseBody([whole], provider, 'https://gw.example/t')).equals(expected)).toBe(true);
  });

  it('passes a body without the provider URL, or with the same base, through untouched', () => {
    const body = Buffer.from('{"resourceType":"Patient","name":"Zoë"}');
    expect(responseBody([body], provider, 'https://gw.example')).toBe(body);
    const same = Buffer.from(`{"url":"${provider.baseUrl}/x"}`);
    expect(responseBody([same], provider, provider.baseUrl)).toBe(same);
    expect(responseBody([], provider, 'https://gw.example').length).toBe(0);
  });
});
