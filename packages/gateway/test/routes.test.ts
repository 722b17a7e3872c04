import { describe, expect, it } from 'vitest';
import { parseTarget } from '../src/index.ts';
import { TENANT_A } from './helpers.ts';

describe('parseTarget', () => {
  it('names FHIR routes by template, never by id', () => {
    const cases: [string, string, string][] = [
      ['GET', '/Patient?family=smith', '/Patient'],
      ['GET', '/Patient/123', '/Patient/{id}'],
      ['POST', '/Patient/_search', '/Patient/_search'],
      ['POST', '/', '/'],
      ['GET', '/Observation?patient=1&category=vital-signs&_sort=-date', '/Observation'],
      ['GET', '/Patient/$export', '/Patient/$export'],
      ['GET', '/Group/g1/$export', '/Group/{id}/$export'],
      ['GET', '/Patient/1/_history/2', '/Patient/{id}/_history/{vid}'],
      ['GET', `/${TENANT_A}/Location/9`, '/Location/{id}'],
    ];
    for (const [method, url, route] of cases) {
      const target = parseTarget(method, url);
      expect(target.kind).toBe('fhir');
      expect(target.kind === 'fhir' && target.route).toBe(route);
    }
    const prefixed = parseTarget('GET', `/${TENANT_A.toUpperCase()}/Patient/1`);
    expect(prefixed.kind === 'fhir' && prefixed.tenant).toBe(TENANT_A);
  });

  it('refuses every way out of the provider base', () => {
    for (const url of [
      '/Patient/../admin',
      '/Patient/%2e%2e/x',
      '/Patient/%2E%2E',
      '/%2e/Patient',
      '/Patient/a%2fb',
      '/Patient/a%5Cb',
      '/Patient\\..\\x',
      '//evil.example/Patient',
      'http://evil.example/Patient',
      '/Patient//1',
      '/Patient/%00',
    ]) {
      const target = parseTarget('GET', url);
      expect({ url, code: target.kind === 'error' ? target.code : target.kind }).toEqual({
        url,
        code: 'FW_GATEWAY_PATH_ESCAPE',
      });
    }
  });

  it('reports malformed percent-encoding and unknown routes', () => {
    expect(parseTarget('GET', '/Patient/%E0%A4%A')).toMatchObject({ code: 'FW_GATEWAY_BAD_ENCODING' });
    expect(parseTarget('GET', '/Patient?name=%ZZ')).toMatchObject({ code: 'FW_GATEWAY_BAD_ENCODING' });
    expect(parseTarget('GET', '/patient/1')).toMatchObject({ code: 'FW_GATEWAY_UNKNOWN_ROUTE' });
    expect(parseTarget('GET', '/Patient/1/2/3/4')).toMatchObject({ code: 'FW_GATEWAY_UNKNOWN_ROUTE' });
    expect(parseTarget('GET', '/Patient/not an id')).toMatchObject({ code: 'FW_GATEWAY_UNKNOWN_ROUTE' });
    expect(parseTarget('DELETE', '/Patient/1')).toMatchObject({
      code: 'FW_GATEWAY_METHOD_NOT_ALLOWED',
      allow: 'GET, HEAD',
    });
    expect(parseTarget('GET', '/token')).toMatchObject({ code: 'FW_GATEWAY_METHOD_NOT_ALLOWED', allow: 'POST' });
  });

  it('serves metadata at the root and under a tenant', () => {
    expect(parseTarget('GET', '/metadata')).toEqual({ kind: 'metadata', tenant: undefined });
    expect(parseTarget('GET', `/${TENANT_A}/metadata`)).toEqual({ kind: 'metadata', tenant: TENANT_A });
    expect(parseTarget('GET', '/metadata?_format=json')).toEqual({ kind: 'metadata', tenant: undefined });
  });
});
