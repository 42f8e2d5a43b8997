// Dialect 000, the sandbox manager (server/rest/manager.c): the document's exchanges
// (fixtures/compat/manager.json), its error cases, two principals, the document's aiohttp demo
// run unchanged, and the same sandboxes and images seen from MCP.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { startServe, httpClient, createKey, httpRequest, textOf, REPO, IS_ROOT } from './helpers.mjs';
import { loadCompat, assertExchange } from './compat.mjs';

const fixture = loadCompat('manager');

function api(srv, key, method, p, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (key) headers['X-API-KEY'] = key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return httpRequest(srv, { method, path: p, headers, body, timeout: 60000 });
}

function assertEnvelopeError(res, status, where) {
  assert.equal(res.status, status, `${where}: ${res.text}`);
  assert.equal(res.json?.success, false, `${where}: ${res.text}`);
  assert.equal(typeof res.json.error?.code, 'string');
  assert.equal(typeof res.json.error?.message, 'string');
  assert.deepEqual(res.json.error.details, {});
  assert.ok(Math.abs(res.json.timestamp - Date.now()) < 60000, 'timestamp is epoch milliseconds');
}

describe('REST dialect 000: the sandbox manager', () => {
  let srv, other, mcp, mcpOther;
  before(async () => {
    srv = await startServe();
    other = createKey(srv.dataDir, { name: 'other' }).key;
    mcp = await httpClient(srv);
    mcpOther = await httpClient(srv, { key: other });
  });
  after(async () => { await mcp?.close(); await mcpOther?.close(); await srv?.close(); });

  test('the document\'s exchanges, in order, against /api/v1', async () => {
    const saved = {};
    for (const ex of fixture.exchanges) {
      const p = ex.request.path.replace(/\{(\w+)\}/g, (_, k) => saved[k]);
      const res = await api(srv, srv.key, ex.request.method, p, ex.request.body);
      assertExchange(res, ex.response, ex.name);
      assert.equal(res.headers['content-type']?.split(';')[0], 'application/json');
      // the envelope has the document's fields and no others
      assert.deepEqual(Object.keys(res.json).sort(), Object.keys(ex.response.body).sort(), `${ex.name}: envelope ${res.text}`);
      assert.ok(Math.abs(res.json.timestamp - Date.now()) < 60000, `${ex.name}: timestamp in ms`);
      for (const [k, from] of Object.entries(ex.save || {})) saved[k] = res.json.data[from];
    }
    // what the exchanges made is now gone or stopped
    const gone = await api(srv, srv.key, 'GET', `/api/v1/sandbox-images/${saved.imageId}`);
    assertEnvelopeError(gone, 404, 'deleted image');
    const st = await api(srv, srv.key, 'GET', `/api/v1/sandboxes/${saved.sandboxId}/status`);
    assert.equal(st.json.data.status, 'STOPPED');
  });

  test('create: URLs, status, instanceSpecification onto limits, userId as a label', async () => {
    const res = await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u-spec', instanceSpecification: '1u2g' });
    assert.equal(res.status, 201, res.text);
    const d = res.json.data;
    assert.match(d.sandboxId, /^ses_/);
    assert.equal(d.status, 'RUNNING');
    const info = (await mcp.call('session_info', { session_id: d.sandboxId })).structuredContent;
    assert.equal(d.cdpUrl, info.cdp_url, "cdpUrl is the session's CDP endpoint");
    assert.match(d.cdpUrl, new RegExp(`^ws://127\\.0\\.0\\.1:${srv.port}/sessions/${d.sandboxId}/cdp\\?token=[0-9a-f]{32}$`));
    assert.equal(d.mcpUrl, info.mcp_sse_url, "mcpUrl is the session-bound MCP endpoint's SSE URL, as the document's is");
    assert.match(d.vncUrl, new RegExp(`^${srv.base}/sessions/${d.sandboxId}/view\\?token=`));
    assert.equal(info.limits.memory_mb, 2048);
    // the CPU count is the session's cpus where a cpu cgroup can keep it (root here); elsewhere no cap
    if (IS_ROOT) assert.equal(info.limits.cpus, 1);
    else assert.ok([1, null].includes(info.limits.cpus), JSON.stringify(info.limits));
    assert.equal(info.labels['manager.userId'], 'u-spec');
    assert.equal(info.labels['manager.instanceType'], 't2.small');
    // the view page opens with the vncUrl's token
    const view = await httpRequest(srv, { method: 'GET', path: new URL(d.vncUrl).pathname + new URL(d.vncUrl).search });
    assert.equal(view.status, 200);
    const list = await api(srv, srv.key, 'GET', '/api/v1/sandboxes?userId=u-spec');
    assert.equal(list.json.data.total, 1);
    assert.equal(list.json.data.sandboxes[0].instanceType, 't2.small');
    assert.equal(list.json.data.sandboxes[0].userId, 'u-spec');
  });

  test('mcpUrl: an MCP client with only that URL works in the sandbox (legacy SSE, and Streamable HTTP with the same token)', async () => {
    const res = await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u-mcp' });
    const { sandboxId, mcpUrl } = res.json.data;
    assert.match(mcpUrl, new RegExp(`/sessions/${sandboxId}/sse\\?token=[0-9a-f]{32}$`));
    const httpUrl = mcpUrl.replace(`/sessions/${sandboxId}/sse?`, `/sessions/${sandboxId}/mcp?`);
    for (const [url, Transport, file] of [[mcpUrl, SSEClientTransport, 'a.txt'], [httpUrl, StreamableHTTPClientTransport, 'b.txt']]) {
      const client = new Client({ name: 'manager-e2e', version: '1.0.0' }, { capabilities: {} });
      await client.connect(new Transport(new URL(url)));
      try {
        const names = (await client.listTools()).tools.map((t) => t.name);
        for (const n of ['read_file', 'write_file', 'list_directory', 'run_command']) assert.ok(names.includes(n), `${n} offered: ${names}`);
        const w = await client.callTool({ name: 'write_file', arguments: { path: file, content: `via ${file}\n` } });
        assert.ok(!w.isError, textOf(w));
      } finally { await client.close().catch(() => {}); }
      const r = await mcp.call('file_read', { session_id: sandboxId, path: file });
      assert.equal(r.structuredContent.content, `via ${file}\n`, 'the bound endpoint acts on the sandbox');
    }
    // the URL carries no key: without its token it is refused
    const bare = await httpRequest(srv, { method: 'POST', path: new URL(mcpUrl).pathname, headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } } });
    assert.equal(bare.status, 401);
  });

  test('aliases: /v1/..., /compat/manager/api/v1/... and /compat/manager/v1/...', async () => {
    for (const prefix of ['/v1', '/compat/manager/api/v1', '/compat/manager/v1']) {
      const res = await api(srv, srv.key, 'POST', `${prefix}/sandboxes`, { userId: 'u-alias' });
      assert.equal(res.status, 201, `${prefix}: ${res.text}`);
      const st = await api(srv, srv.key, 'GET', `${prefix}/sandboxes/${res.json.data.sandboxId}/status`);
      assert.equal(st.json.data.status, 'RUNNING', prefix);
      const del = await api(srv, srv.key, 'DELETE', `${prefix}/sandboxes/${res.json.data.sandboxId}`);
      assert.equal(del.status, 200, del.text);
      assert.equal(del.json.data.message, 'Sandbox deletion initiated successfully');
      const after = await api(srv, srv.key, 'GET', `${prefix}/sandboxes/${res.json.data.sandboxId}`);
      assertEnvelopeError(after, 404, `${prefix}: deleted sandbox`);
    }
  });

  test('credentials: missing, wrong, Bearer, any case', async () => {
    assertEnvelopeError(await api(srv, null, 'GET', '/api/v1/sandboxes'), 401, 'no key');
    assertEnvelopeError(await api(srv, 'mcpbox_wrong', 'GET', '/api/v1/sandboxes'), 401, 'wrong key');
    assertEnvelopeError(await api(srv, null, 'POST', '/api/v1/sandboxes', { userId: 'x' }), 401, 'no key, create');
    let res = await httpRequest(srv, { method: 'GET', path: '/api/v1/sandboxes', headers: { 'x-api-key': srv.key } });
    assert.equal(res.status, 200, res.text);
    res = await httpRequest(srv, { method: 'GET', path: '/v1/sandboxes', headers: { Authorization: `Bearer ${srv.key}` } });
    assert.equal(res.status, 200, res.text);
  });

  test('bad input: malformed bodies, wrong types, bad specifications, queries', async () => {
    const bad = [
      ['POST', '/api/v1/sandboxes', '{"userId":', 'malformed JSON'],
      ['POST', '/api/v1/sandboxes', '[1,2]', 'not an object'],
      ['POST', '/api/v1/sandboxes', undefined, 'no body'],
      ['POST', '/api/v1/sandboxes', {}, 'no userId'],
      ['POST', '/api/v1/sandboxes', { userId: 5 }, 'userId a number'],
      ['POST', '/api/v1/sandboxes', { userId: '' }, 'userId empty'],
      ['POST', '/api/v1/sandboxes', { userId: 'x'.repeat(300) }, 'userId too long'],
      ['POST', '/api/v1/sandboxes', { userId: 'u', imageId: 7 }, 'imageId a number'],
      ['POST', '/api/v1/sandboxes', { userId: 'u', instanceSpecification: '1x' }, 'spec 1x'],
      ['POST', '/api/v1/sandboxes', { userId: 'u', instanceSpecification: '0u1g' }, 'spec 0u1g'],
      ['POST', '/api/v1/sandboxes', { userId: 'u', instanceSpecification: '1u1g ' }, 'spec trailing space'],
      ['POST', '/api/v1/sandboxes', { userId: 'u', instanceSpecification: '99999999999u1g' }, 'spec overflow'],
      ['POST', '/api/v1/sandboxes', { userId: 'u', instanceSpecification: 2 }, 'spec a number'],
      ['GET', '/api/v1/sandboxes?page=0', undefined, 'page 0'],
      ['GET', '/api/v1/sandboxes?size=abc', undefined, 'size abc'],
      ['GET', '/api/v1/sandboxes?size=100000', undefined, 'size too large'],
      ['GET', '/api/v1/sandboxes?status=DANCING', undefined, 'unknown status'],
      ['GET', '/api/v1/sandbox-images', undefined, 'images without userId'],
      ['GET', '/api/v1/sandbox-images?userId=u&status=RUNNING', undefined, 'unknown image status'],
    ];
    for (const [m, p, body, why] of bad) {
      const res = body === undefined && m === 'POST'
        ? await httpRequest(srv, { method: m, path: p, headers: { 'X-API-KEY': srv.key, 'Content-Length': '0' } })
        : await api(srv, srv.key, m, p, body);
      assertEnvelopeError(res, 400, why);
    }
    // more CPUs than this host has: refused by session_create, its message in the envelope
    const many = await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u', instanceSpecification: `${os.availableParallelism() + 1}u1g` });
    assertEnvelopeError(many, 400, 'more CPUs than the host');
    assert.match(many.json.error.message, /cpus must be at most \d+ \(the CPUs of this host\)/);
  });

  test('unknown ids get 404 in the envelope', async () => {
    for (const [m, p] of [
      ['GET', '/api/v1/sandboxes/ses_nope'], ['GET', '/api/v1/sandboxes/ses_nope/status'],
      ['POST', '/api/v1/sandboxes/ses_nope/stop'], ['DELETE', '/v1/sandboxes/ses_nope'],
      ['GET', '/api/v1/sandbox-images/snap_nope'], ['POST', '/api/v1/sandbox-images/snap_nope/delete'],
    ])
      assertEnvelopeError(await api(srv, srv.key, m, p), 404, `${m} ${p}`);
    assertEnvelopeError(await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u', imageId: 'snap_nope' }), 404, 'create from unknown image');
    // what no route serves: unknown paths under the prefix, documented paths with another method
    assertEnvelopeError(await api(srv, srv.key, 'GET', '/compat/manager/api/v1/nothing'), 404, 'unknown path under the prefix');
    assertEnvelopeError(await api(srv, srv.key, 'GET', '/api/v1/sandboxes/ses_x/stop'), 405, 'GET of stop');
    assertEnvelopeError(await api(srv, srv.key, 'PUT', '/api/v1/sandboxes'), 405, 'PUT of sandboxes');
    assertEnvelopeError(await api(srv, srv.key, 'GET', '/compat/manager/v1/sandbox-images/x/delete'), 405, 'GET of delete under the prefix');
  });

  test('stop takes an image; a new sandbox starts from it; a stopped sandbox cannot be stopped again', async () => {
    const made = await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u-img' });
    const sid = made.json.data.sandboxId;
    const w = await mcp.call('file_write', { session_id: sid, path: 'kept.txt', content: 'from the image\n' });
    assert.ok(!w.isError, textOf(w));
    const stop = await api(srv, srv.key, 'POST', `/api/v1/sandboxes/${sid}/stop`);
    assert.equal(stop.status, 200, stop.text);
    const image = stop.json.data.imageId;
    assert.match(image, /^snap_/);
    assertEnvelopeError(await api(srv, srv.key, 'POST', `/api/v1/sandboxes/${sid}/stop`), 400, 'stop twice');
    const img = await api(srv, srv.key, 'GET', `/api/v1/sandbox-images/${image}`);
    assert.equal(img.json.data.status, 'AVAILABLE');
    assert.equal(img.json.data.sourceSandboxId, sid);
    assert.equal(img.json.data.userId, 'u-img');
    const list = await api(srv, srv.key, 'GET', '/api/v1/sandbox-images?userId=u-img&status=AVAILABLE');
    assert.deepEqual(list.json.data.images.map((i) => i.imageId), [image]);
    const none = await api(srv, srv.key, 'GET', '/api/v1/sandbox-images?userId=u-img&status=FAILED');
    assert.equal(none.json.data.total, 0);
    // the image is a snapshot MCP can restore
    const snap = await mcp.call('snapshot_info', { snapshot_id: image });
    assert.ok(!snap.isError, textOf(snap));
    const fromMcp = (await mcp.call('session_create', { snapshot_id: image })).structuredContent.session_id;
    const r = await mcp.call('file_read', { session_id: fromMcp, path: 'kept.txt' });
    assert.equal(r.structuredContent.content, 'from the image\n');
    // and a sandbox created with imageId starts from it
    const again = await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u-img', imageId: image });
    assert.equal(again.status, 201, again.text);
    const r2 = await mcp.call('file_read', { session_id: again.json.data.sandboxId, path: 'kept.txt' });
    assert.equal(r2.structuredContent.content, 'from the image\n');
    const st = await api(srv, srv.key, 'GET', `/api/v1/sandboxes/${again.json.data.sandboxId}/status`);
    assert.equal(st.json.data.imageId, image);
    // initialize (first-version alias) starts the stopped one again
    const init = await api(srv, srv.key, 'POST', `/v1/sandboxes/${sid}/initialize`, { userId: 'u-img' });
    assert.equal(init.status, 200, init.text);
    assert.equal(init.json.data.success, true);
    const st2 = await api(srv, srv.key, 'GET', `/api/v1/sandboxes/${sid}/status`);
    assert.equal(st2.json.data.status, 'RUNNING');
    // images made on request (first-version alias): 201 and an Image
    const made2 = await api(srv, srv.key, 'POST', `/v1/sandbox-images/sandbox/${sid}`, { userId: 'u-img', name: 'mine', description: 'by hand' });
    assert.equal(made2.status, 201, made2.text);
    assert.equal(made2.json.data.name, 'mine');
    assert.equal(made2.json.data.description, 'by hand');
    const del = await api(srv, srv.key, 'POST', `/api/v1/sandbox-images/${made2.json.data.imageId}/delete`);
    assert.equal(del.json.data, true);
    const gone = await mcp.call('snapshot_info', { snapshot_id: made2.json.data.imageId });
    assert.ok(gone.isError, 'image delete removes the snapshot');
  });

  test('pagination', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'u-page' })).status, 201);
    const p1 = await api(srv, srv.key, 'GET', '/api/v1/sandboxes?userId=u-page&page=1&size=2');
    assert.deepEqual([p1.json.data.total, p1.json.data.pages, p1.json.data.currentPage, p1.json.data.sandboxes.length], [3, 2, 1, 2]);
    const p2 = await api(srv, srv.key, 'GET', '/api/v1/sandboxes?userId=u-page&page=2&size=2');
    assert.equal(p2.json.data.sandboxes.length, 1);
    const ids = new Set([...p1.json.data.sandboxes, ...p2.json.data.sandboxes].map((s) => s.sandboxId));
    assert.equal(ids.size, 3);
    const p3 = await api(srv, srv.key, 'GET', '/api/v1/sandboxes?userId=u-page&page=3&size=2');
    assert.equal(p3.json.data.sandboxes.length, 0);
  });

  test('two principals: foreign sandboxes and images are not found; userId never crosses keys', async () => {
    const mine = await api(srv, srv.key, 'POST', '/api/v1/sandboxes', { userId: 'shared-user' });
    const sid = mine.json.data.sandboxId;
    const theirs = await api(srv, other, 'POST', '/api/v1/sandboxes', { userId: 'shared-user' });
    assert.equal(theirs.status, 201, theirs.text);
    for (const [m, p] of [['GET', `/api/v1/sandboxes/${sid}`], ['GET', `/api/v1/sandboxes/${sid}/status`],
      ['POST', `/api/v1/sandboxes/${sid}/stop`], ['DELETE', `/v1/sandboxes/${sid}`],
      ['POST', `/v1/sandbox-images/sandbox/${sid}`]])
      assertEnvelopeError(await api(srv, other, m, p, m === 'POST' && p.includes('images') ? { userId: 'shared-user' } : undefined), 404, `other: ${m} ${p}`);
    const list = await api(srv, other, 'GET', '/api/v1/sandboxes?userId=shared-user');
    assert.deepEqual(list.json.data.sandboxes.map((s) => s.sandboxId), [theirs.json.data.sandboxId]);
    const stop = await api(srv, srv.key, 'POST', `/api/v1/sandboxes/${sid}/stop`);
    const image = stop.json.data.imageId;
    assertEnvelopeError(await api(srv, other, 'GET', `/api/v1/sandbox-images/${image}`), 404, 'other: image');
    assertEnvelopeError(await api(srv, other, 'POST', `/api/v1/sandbox-images/${image}/delete`), 404, 'other: image delete');
    assertEnvelopeError(await api(srv, other, 'POST', '/api/v1/sandboxes', { userId: 'shared-user', imageId: image }), 404, 'other: create from image');
    const imgs = await api(srv, other, 'GET', '/api/v1/sandbox-images?userId=shared-user');
    assert.equal(imgs.json.data.total, 0);
    // MCP: the same principal sees the sandbox, the other does not
    const l1 = (await mcp.call('session_list', {})).structuredContent.sessions.map((s) => s.session_id);
    assert.ok(l1.includes(sid));
    const l2 = (await mcpOther.call('session_list', {})).structuredContent.sessions.map((s) => s.session_id);
    assert.ok(!l2.includes(sid));
    assert.ok(l2.includes(theirs.json.data.sandboxId));
  });

  test('the document\'s aiohttp demo, unchanged, from create to image delete', () => {
    // fixtures/compat/manager_demo.py is the document's demo byte for byte
    let demo = fs.readFileSync(path.join(REPO, 'fixtures', 'compat', 'manager_demo.py'), 'utf8');
    // only its two settings change, as its comments ask
    demo = demo.replace('BASE_URL = ""', `BASE_URL = "${srv.base}/api"`).replace('API_KEY = ""', `API_KEY = "${srv.key}"`);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'demo000-')), 'demo.py');
    fs.writeFileSync(file, demo);
    const r = spawnSync('/usr/bin/python3', [file], { encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('发生错误'), r.stdout);
    assert.match(r.stdout, /沙盒创建成功，ID: ses_/);
    assert.match(r.stdout, /当前沙盒状态: RUNNING/);
    assert.match(r.stdout, /镜像已就绪: snap_/);
    assert.match(r.stdout, /删除镜像结果: \{\n  "success": true,\n  "data": true/);
  });
});

describe('REST dialect 000: a quota is not a rate limit', () => {
  let srv;
  before(async () => { srv = await startServe({ config: { quota: { sessions: 1 } } }); });
  after(async () => { await srv?.close(); });

  test('past the key\'s sessions quota: 403 FORBIDDEN naming it, not 429', async () => {
    const k = createKey(srv.dataDir, { name: 'quota-m' }).key;
    const one = await api(srv, k, 'POST', '/api/v1/sandboxes', { userId: 'q1' });
    assert.equal(one.status, 201, one.text);
    const two = await api(srv, k, 'POST', '/api/v1/sandboxes', { userId: 'q2' });
    assertEnvelopeError(two, 403, 'over the quota');
    assert.equal(two.json.error.code, 'FORBIDDEN');
    assert.match(two.json.error.message, /quota: this key may hold 1 sessions/);
  });
});
