// Rate limits per principal and category (server/base/rate.c, checked in tools/registry.c for every protocol):
// a JSON-RPC error with the retry time (WebSocket, the official SDK client), 429 with X-RateLimit-* and
// Retry-After over Streamable HTTP, recovery after the refill, other keys and administrators unaffected.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startServe, createKey, wsClient, httpClient, httpRequest, textOf, sleep, PROTOCOL_LATEST } from './helpers.mjs';

const ACCEPT = 'application/json, text/event-stream';
const INIT = { jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: PROTOCOL_LATEST, capabilities: {}, clientInfo: { name: 'rate-raw', version: '1.0.0' } } };
const hdrs = (key, sid) => ({ 'Content-Type': 'application/json', Accept: ACCEPT, Authorization: `Bearer ${key}`, ...(sid ? { 'Mcp-Session-Id': sid } : {}) });
const call = (id, name, args = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

describe('rate limits', () => {
  let srv;
  before(async () => {
    // requests: 3 at once, one more a second; execute: 2 at once
    srv = await startServe({ config: { pool_size: 1, rate_limits: { requests: { per_minute: 60, burst: 3 }, execute: { per_minute: 60, burst: 2 } } } });
  });
  after(async () => { await srv?.close(); });

  test('MCP: an exhausted bucket is a JSON-RPC error with the retry time; it recovers; another key is unaffected', async () => {
    const a = createKey(srv.dataDir, { name: 'rate-a' }).key;
    const b = createKey(srv.dataDir, { name: 'rate-b' }).key;
    const ca = await wsClient(srv, { key: a });
    const cb = await wsClient(srv, { key: b });
    try {
      for (let i = 0; i < 3; i++) assert.ok(!(await ca.call('session_list')).isError, `call ${i + 1} of the burst`);
      const t0 = Date.now();
      const err = await ca.call('session_list').then((r) => ({ unexpected: r }), (e) => e);
      assert.ok(!err.unexpected, `the fourth call should be refused: ${JSON.stringify(err.unexpected)}`);
      assert.equal(err.code, -32029, `JSON-RPC code: ${err.message}`);
      assert.match(err.message, /rate limit.*requests.*retry after \d+ ms/i);
      assert.ok(err.data && err.data.retry_after_ms > 0 && err.data.retry_after_ms <= 1000, JSON.stringify(err.data));
      assert.equal(err.data.category, 'requests');
      assert.equal(err.data.limit, 3);
      // another key has its own bucket
      for (let i = 0; i < 3; i++) assert.ok(!(await cb.call('session_list')).isError, `key b call ${i + 1}`);
      // execute is its own category: a's exhausted requests bucket does not stop it
      const ex = await ca.call('execute', { language: 'shell', code: 'echo hi' });
      assert.ok(!ex.isError, textOf(ex));
      // recovery: after the retry time one call is admitted again
      await sleep(Math.max(0, err.data.retry_after_ms - (Date.now() - t0)) + 50);
      assert.ok(!(await ca.call('session_list')).isError, 'admitted again after the retry time');
    } finally {
      await ca.close();
      await cb.close();
    }
  });

  test('a key\'s keys share its buckets: minting keys is no way round the limit', async () => {
    const ca = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'rate-minter' }).key });
    let cs;
    try {
      const made = await ca.call('key_create', { name: 'fresh-bucket?' }); // 1 of the 3 requests at once
      assert.ok(!made.isError, textOf(made));
      cs = await wsClient(srv, { key: made.structuredContent.key });
      for (let i = 0; i < 2; i++) assert.ok(!(await ca.call('session_list')).isError, `call ${i + 2} of the burst`);
      const err = await cs.call('session_list').then((r) => ({ unexpected: r }), (e) => e);
      assert.ok(!err.unexpected, `the sub-key's call should be refused: ${JSON.stringify(err.unexpected)}`);
      assert.equal(err.code, -32029, err.message);
      assert.equal(err.data.category, 'requests');
    } finally {
      await ca.close();
      await cs?.close();
    }
  });

  test('Streamable HTTP: X-RateLimit-* on limited answers, 429 with Retry-After when exhausted', async () => {
    const c = createKey(srv.dataDir, { name: 'rate-c' }).key;
    const init = await httpRequest(srv, { headers: hdrs(c), body: INIT });
    assert.equal(init.status, 200, init.text);
    assert.equal(init.headers['x-ratelimit-limit'], undefined, 'initialize is not a tool call: not limited');
    const sid = init.headers['mcp-session-id'];
    assert.equal((await httpRequest(srv, { headers: hdrs(c, sid), body: { jsonrpc: '2.0', method: 'notifications/initialized' } })).status, 202);
    const seen = [];
    for (let i = 1; i <= 3; i++) {
      const r = await httpRequest(srv, { headers: hdrs(c, sid), body: call(i, 'session_list') });
      assert.equal(r.status, 200, r.text);
      seen.push(r.headers['x-ratelimit-remaining']);
      assert.equal(r.headers['x-ratelimit-limit'], '3');
      const reset = Number(r.headers['x-ratelimit-reset']);
      const now = Date.now() / 1000;
      assert.ok(reset >= now - 1 && reset <= now + 5, `X-RateLimit-Reset is an epoch time within the refill: ${reset} vs ${now}`);
    }
    assert.deepEqual(seen, ['2', '1', '0']);
    const r = await httpRequest(srv, { headers: hdrs(c, sid), body: call(4, 'session_list') });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.headers['x-ratelimit-remaining'], '0');
    assert.equal(r.headers['x-ratelimit-limit'], '3');
    assert.equal(r.headers['retry-after'], '1');
    assert.match(r.headers['content-type'] || '', /^application\/json/);
    assert.equal(r.json?.error?.code, -32029, r.text);
    assert.ok(r.json.error.data.retry_after_ms > 0);
    assert.equal(r.json.id, 4);
    await sleep(r.json.error.data.retry_after_ms + 50);
    const again = await httpRequest(srv, { headers: hdrs(c, sid), body: call(5, 'session_list') });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers['x-ratelimit-remaining'], '0');
  });

  test('REST routes (the executor dialect): X-RateLimit-* of its tightest bucket, 429 with Retry-After when exhausted', async () => {
    const d = createKey(srv.dataDir, { name: 'rate-d' }).key;
    const post = () => httpRequest(srv, { path: '/compat/executor/execute', timeout: 60000,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${d}` },
      body: { execution_id: 'e1', session_id: 'rate-rest', code: 'echo ok', language: 'shell' } });
    // the bucket gains one a second: three calls within a second see 1, 0, then 429. The first call
    // creates the session (slow on a busy host), so it is made first and the bucket left to refill;
    // a round that still took a second or more may have seen a refill and is tried again.
    assert.equal((await post()).status, 200);
    for (let round = 1; ; round++) {
      await sleep(2100);
      const t0 = Date.now(), seen = [];
      for (let i = 0; i < 2; i++) {
        const r = await post();
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['x-ratelimit-limit'], '2', JSON.stringify(r.headers));
        seen.push(r.headers['x-ratelimit-remaining']);
      }
      const r = await post();
      const took = Date.now() - t0;
      if (took >= 1000 && round < 5) continue;
      assert.ok(took < 1000, `three calls took ${took} ms in each of ${round} rounds: too slow to tell a refill`);
      assert.deepEqual(seen, ['1', '0']);
      assert.equal(r.status, 429, r.text);
      assert.equal(r.headers['x-ratelimit-remaining'], '0');
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.text, /rate limit/i);
      break;
    }
  });

  test('session-bound endpoints: an alias counts once, as its target, and a refusal is the protocol error', async () => {
    const e = createKey(srv.dataDir, { name: 'rate-e' }).key;
    const owner = await httpClient(srv, { key: e });
    const client = new Client({ name: 'rate-bound', version: '1.0.0' }, { capabilities: {} });
    try {
      const sid = (await owner.call('session_create', {})).structuredContent.session_id;
      const url = (await owner.call('session_info', { session_id: sid })).structuredContent.mcp_url;
      await sleep(2100); // the execute bucket (2 at once, one a second) is full again
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      const run = () => client.callTool({ name: 'run_command', arguments: { command: 'echo hi' } }, undefined, { timeout: 60000 });
      for (let i = 0; i < 2; i++) {
        const r = await run();
        assert.ok(!r.isError, `run_command ${i + 1}: ${textOf(r)}`);
      }
      const err = await run().then((r) => ({ unexpected: r }), (x) => x);
      assert.ok(!err.unexpected, `the third run_command should be refused by the execute bucket: ${JSON.stringify(err.unexpected)}`);
      // over Streamable HTTP the SDK surfaces the 429 with the JSON-RPC error body in its message
      assert.equal(err.code, 429, `an HTTP 429, not an isError result: ${err.message}`);
      const body = JSON.parse(err.message.slice(err.message.indexOf('{')));
      assert.equal(body.error.code, -32029, err.message);
      assert.equal(body.error.data.category, 'execute', err.message);
    } finally {
      await client.close().catch(() => {});
      await owner.close();
    }
  });

  test('administrators are exempt by default', async () => {
    const ca = await wsClient(srv);
    try {
      for (let i = 0; i < 8; i++) assert.ok(!(await ca.call('session_list')).isError, `admin call ${i + 1}`);
    } finally { await ca.close(); }
    const init = await httpRequest(srv, { headers: hdrs(srv.key), body: INIT });
    const sid = init.headers['mcp-session-id'];
    const r = await httpRequest(srv, { headers: hdrs(srv.key, sid), body: call(1, 'session_list') });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ratelimit-limit'], undefined, 'no limit, no headers');
  });

  test('a bad rate_limits config is refused at start', async () => {
    await assert.rejects(startServe({ config: { rate_limits: { execute: { per_minute: 10, brust: 3 } } }, timeout: 5000 }),
      /brust|exited/);
  });
});
