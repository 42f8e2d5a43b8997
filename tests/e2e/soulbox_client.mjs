// Shared by the SoulBox (seed API 004) e2e tests: the request helper and the error-envelope check.
// Not a *.test.mjs, so importing it registers no tests.
import assert from 'node:assert/strict';
import { httpRequest } from './helpers.mjs';

/** A SoulBox request: JSON body (when given), the key in X-API-Key (when given), extra headers. */
export const sb = (srv, key, method, p, body, headers = {}) => httpRequest(srv, {
  method, path: p, body,
  headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(key ? { 'X-API-Key': key } : {}), ...headers },
  timeout: 60000,
});

/** The envelope: {error: {code, message, details, request_id}}, the id also in X-Request-ID. */
export function assertError(res, status, code, field) {
  assert.equal(res.status, status, res.text);
  const e = res.json?.error;
  assert.ok(e, `no error envelope: ${res.text}`);
  assert.equal(e.code, code, res.text);
  assert.equal(typeof e.message, 'string');
  assert.equal(typeof e.details, 'object');
  assert.match(e.request_id, /^req_[0-9a-f]{16}$/);
  assert.equal(res.headers['x-request-id'], e.request_id);
  if (field) assert.equal(e.details.field, field, res.text);
}
