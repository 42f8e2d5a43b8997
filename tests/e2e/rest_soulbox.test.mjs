// Seed API 004, SoulBox, served by `mcpbox serve` (server/rest/soulbox*.c): the exchanges recorded from
// the document (fixtures/compat/soulbox.json) at the documented paths and under /compat/soulbox; the
// error envelope and its request ids; credentials (X-API-Key, Authorization: Bearer); the document's
// rate limits (X-RateLimit-*, 429, recovery); pagination (limit, offset, cursor, X-Pagination-*).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, createKey, httpRequest, sleep } from './helpers.mjs';
import { loadCompat, compatRequest, assertExchange } from './compat.mjs';

const FX = loadCompat('soulbox');
const PREFIX = FX.prefix;
const BASES = ['', PREFIX];

export const sb = (srv, key, method, p, body, headers = {}) => httpRequest(srv, {
  method, path: p, body,
  headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(key ? { 'X-API-Key': key } : {}), ...headers },
  timeout: 60000,
});

/** The envelope: {error: {code, message, details, request_id}}, the id also in X-Request-ID. */
function assertError(res, status, code, field) {
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

describe('soulbox (004): skeleton', () => {
  let srv;
  let alice;
  let bob;
  before(async () => {
    srv = await startServe({ config: { compat: { soulbox: { rate_limits: { requests: 30 } } } } });
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
    bob = createKey(srv.dataDir, { name: 'bob' }).key;
  });
  after(async () => { await srv?.close(); });

  for (const base of BASES) {
    for (const ex of FX.exchanges.filter((e) => !e.skip && !e.later)) {
      test(`${base || '(documented path)'}: ${ex.name}`, async () => {
        const res = await compatRequest(srv, ex.request, { prefix: base, key: ex.request.key === 'bob' ? bob : alice, credential: FX.credential });
        assertExchange(res, ex.response, ex.name);
        if (res.status >= 400) assertError(res, res.status, res.json.error.code);
      });
    }
  }

  test('credentials: X-API-Key and Authorization: Bearer; missing and wrong keys are AUTHENTICATION_REQUIRED', async () => {
    let r = await sb(srv, alice, 'GET', '/api/templates');
    assert.equal(r.status, 200, r.text);
    r = await sb(srv, null, 'GET', '/api/templates', undefined, { Authorization: `Bearer ${alice}` });
    assert.equal(r.status, 200, r.text);
    assertError(await sb(srv, null, 'GET', '/api/templates'), 401, 'AUTHENTICATION_REQUIRED');
    assertError(await sb(srv, 'mcpbox_wrong', 'GET', '/api/templates'), 401, 'AUTHENTICATION_REQUIRED');
    assertError(await sb(srv, null, 'GET', '/api/templates', undefined, { Authorization: 'Bearer e30.e30.xx' }), 401, 'AUTHENTICATION_REQUIRED');
  });

  test('unknown paths and methods under /compat/soulbox answer in the envelope', async () => {
    assertError(await sb(srv, alice, 'GET', `${PREFIX}/api/nothing-here`), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, alice, 'DELETE', `${PREFIX}/api/templates`), 405, 'VALIDATION_ERROR', 'method');
  });

  test('pagination: limit, offset, cursor and the X-Pagination-* headers; X-Pagination-Next leads on', async () => {
    const all = (await sb(srv, alice, 'GET', '/api/templates')).json.templates.map((t) => t.template_id);
    assert.ok(all.length >= 3 && all.includes('basic') && all.includes('basic-python'), String(all));
    let r = await sb(srv, alice, 'GET', '/api/templates?limit=1');
    assert.equal(r.headers['x-pagination-total'], String(all.length));
    assert.equal(r.headers['x-pagination-limit'], '1');
    assert.equal(r.headers['x-pagination-offset'], '0');
    assert.equal(r.headers['x-pagination-next'], '/api/templates?offset=1&limit=1');
    const seen = [r.json.templates[0].template_id];
    while (r.headers['x-pagination-next']) {
      r = await sb(srv, alice, 'GET', r.headers['x-pagination-next']);
      assert.equal(r.status, 200, r.text);
      seen.push(...r.json.templates.map((t) => t.template_id));
    }
    assert.deepEqual(seen, all);
    r = await sb(srv, alice, 'GET', '/api/templates?limit=1');
    const c = r.headers['x-pagination-next-cursor'];
    r = await sb(srv, alice, 'GET', `/api/templates?limit=1&cursor=${c}`);
    assert.deepEqual(r.json.templates.map((t) => t.template_id), [all[1]]);
    r = await sb(srv, alice, 'GET', `/api/templates?offset=${all.length}`);
    assert.deepEqual(r.json.templates, []);
    assert.equal(r.headers['x-pagination-next'], undefined);
    assertError(await sb(srv, alice, 'GET', '/api/templates?limit=0'), 400, 'VALIDATION_ERROR', 'limit');
    assertError(await sb(srv, alice, 'GET', '/api/templates?offset=-1'), 400, 'VALIDATION_ERROR', 'offset');
    assertError(await sb(srv, alice, 'GET', '/api/templates?cursor=zzz'), 400, 'VALIDATION_ERROR', 'cursor');
    assertError(await sb(srv, alice, 'GET', `/api/templates?cursor=${c}&offset=1`), 400, 'VALIDATION_ERROR', 'cursor');
  });

  test('rate limits: X-RateLimit-* count down, 429 RESOURCE_LIMIT_EXCEEDED with Retry-After, per key, and recovery', async () => {
    // a fresh key: 30 requests a minute (the config), one more every 2 s
    const carol = createKey(srv.dataDir, { name: 'carol' }).key;
    let last = Infinity;
    let refused = null;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await sb(srv, carol, 'GET', '/api/templates/basic');
      if (r.status === 429) { refused = r; break; }
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers['x-ratelimit-limit'], '30');
      const rem = Number(r.headers['x-ratelimit-remaining']);
      assert.ok(rem < last, `remaining ${rem} after ${last}`);
      last = rem;
      assert.ok(Number(r.headers['x-ratelimit-reset']) > Date.now() / 1000 - 1);
    }
    assert.ok(refused, 'never refused');
    assertError(refused, 429, 'RESOURCE_LIMIT_EXCEEDED');
    assert.equal(refused.headers['x-ratelimit-remaining'], '0');
    const wait = Number(refused.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 3, `Retry-After ${wait}`);
    // another key is not affected
    assert.equal((await sb(srv, bob, 'GET', '/api/templates/basic')).status, 200);
    await sleep(wait * 1000 + 100);
    const again = await sb(srv, carol, 'GET', '/api/templates/basic');
    assert.equal(again.status, 200, again.text);
  });
});
