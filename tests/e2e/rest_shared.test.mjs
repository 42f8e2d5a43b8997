// Path prefixes two REST dialects share (server/rest/router.c): /api/v1 is the manager's (seed 000) and
// AgentFlow's (seed 002), /v1 the manager's alone. A path no dialect serves there is answered in a
// shape the clients of every dialect of that prefix understand: the manager's envelope and FastAPI's
// {"detail"} at once, as /health answers the union of its dialects' fields.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, httpRequest } from './helpers.mjs';

const call = (srv, method, p, headers = {}) => httpRequest(srv, { method, path: p, headers, timeout: 20000 });

function assertEnvelope(res, status, code, where) {
  assert.equal(res.status, status, `${where}: ${res.text}`);
  assert.equal(res.headers['content-type']?.split(';')[0], 'application/json', where);
  assert.equal(res.json.success, false, where);
  assert.equal(res.json.data, null, where);
  assert.equal(res.json.error.code, code, where);
  assert.match(res.json.error.message, /\/v1\//, `${where}: the message names the path`);
  assert.deepEqual(res.json.error.details, {}, where);
  assert.ok(Math.abs(res.json.timestamp - Date.now()) < 60000, `${where}: timestamp in ms`);
}

describe('shared REST prefixes', () => {
  let srv;
  before(async () => { srv = await startServe(); });
  after(async () => { await srv?.close(); });

  test('/api/v1: an unknown path is 404 in the manager envelope, FastAPI\'s detail and AgentBox\'s message and code together', async () => {
    for (const [method, p] of [['GET', '/api/v1/nothing'], ['POST', '/api/v1/sandboxes/x/y/z'], ['DELETE', '/api/v1/']]) {
      const res = await call(srv, method, p, { 'X-API-KEY': srv.key });
      assertEnvelope(res, 404, 'NOT_FOUND', `${method} ${p}`);
      assert.equal(res.json.detail, 'Not Found', `${method} ${p}`);
      // AgentBox (003) shares /api/v1 too: its message and code join; its error string gives way to the envelope's
      assert.deepEqual(Object.keys(res.json).sort(), ['code', 'data', 'detail', 'error', 'message', 'success', 'timestamp']);
      assert.equal(res.json.code, 404, `${method} ${p}`);
      assert.equal(res.json.message, res.json.error.message, `${method} ${p}`);
    }
    // no credential needed to learn that nothing is there, and nothing else is told
    const anon = await call(srv, 'GET', '/api/v1/nothing');
    assertEnvelope(anon, 404, 'NOT_FOUND', 'without a key');
    assert.equal(anon.json.detail, 'Not Found');
  });

  test('/api (outside /api/v1) is SoulBox\'s alone: its error envelope', async () => {
    for (const [method, p] of [['GET', '/api/nonexistent'], ['POST', '/api/sandboxes/x/y/z/w']]) {
      const res = await call(srv, method, p, { 'X-API-Key': srv.key });
      assert.equal(res.status, 404, `${method} ${p}: ${res.text}`);
      assert.deepEqual(Object.keys(res.json), ['error'], res.text);
      assert.equal(res.json.error.code, 'RESOURCE_NOT_FOUND');
      assert.match(res.json.error.message, /no such endpoint/);
      assert.match(res.json.error.request_id, /^req_[0-9a-f]+$/);
    }
  });

  test('/v1 is the manager\'s alone: its envelope, no FastAPI field', async () => {
    const res = await call(srv, 'GET', '/v1/nothing/here', { 'X-API-KEY': srv.key });
    assertEnvelope(res, 404, 'NOT_FOUND', 'GET /v1/nothing/here');
    assert.equal(res.json.detail, undefined);
  });

  test('a documented path with another method: 405 in the shape of the dialect that serves it', async () => {
    const mgr = await call(srv, 'PUT', '/api/v1/sandboxes', { 'X-API-KEY': srv.key });
    assertEnvelope(mgr, 405, 'METHOD_NOT_ALLOWED', 'PUT /api/v1/sandboxes');
    const af = await call(srv, 'GET', '/api/v1/execute');
    assert.equal(af.status, 405);
    assert.deepEqual(af.json, { detail: 'Method Not Allowed' });
  });

  test('the paths the dialects serve there still work', async () => {
    const tools = await call(srv, 'GET', '/api/v1/tools', { 'X-API-KEY': srv.key });
    assert.equal(tools.status, 200, tools.text);
    const list = await call(srv, 'GET', '/v1/sandboxes', { 'X-API-KEY': srv.key });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.success, true);
  });
});

describe('shared REST prefixes with a dialect switched off', () => {
  let srv;
  before(async () => { srv = await startServe({ config: { compat: { agentflow: false } } }); });
  after(async () => { await srv?.close(); });

  test('/api/v1 without AgentFlow: only the manager envelope', async () => {
    const res = await call(srv, 'GET', '/api/v1/nothing', { 'X-API-KEY': srv.key });
    assertEnvelope(res, 404, 'NOT_FOUND', 'GET /api/v1/nothing');
    assert.equal(res.json.detail, undefined);
    const gone = await call(srv, 'GET', '/api/v1/tools');
    assertEnvelope(gone, 404, 'NOT_FOUND', 'AgentFlow\'s /api/v1/tools once it is off');
  });
});
