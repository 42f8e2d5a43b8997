// Large tool results: their JSON is written on libuv's pool and handed to the transport without
// another copy (a WebSocket sends it in fragments), so another client's pings stay fast while
// clients read 8 MiB files; every transport still delivers them whole.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, wsClient, httpClient, httpRequest, parseSse } from './helpers.mjs';
import { bigReadPings } from '../bench/bigread.mjs';

const SIZE = 8 << 20;

describe('large replies', () => {
  let srv;
  before(async () => { srv = await startServe({}); });
  after(async () => { await srv?.close(); });

  test('an 8 MiB file_read arrives whole over WebSocket (fragmented) and Streamable HTTP (JSON)', { timeout: 60000 }, async () => {
    const ws = await wsClient(srv);
    const http = await httpClient(srv);
    try {
      const sid = (await ws.call('session_create', {})).structuredContent.session_id;
      // a pattern, so a fragment out of place or lost would show
      const mk = await ws.call('execute', { session_id: sid, language: 'python', code: `open('big','w').write(''.join(chr(97 + i % 26) for i in range(${SIZE})))` });
      assert.equal(mk.isError, undefined, JSON.stringify(mk));
      const want = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i)).join('');
      for (const [name, c] of [['websocket', ws], ['http', http]]) {
        const r = await c.call('file_read', { session_id: sid, path: 'big' });
        assert.equal(r.isError, undefined, name);
        assert.equal(r.structuredContent.bytes, SIZE, name);
        assert.equal(r.structuredContent.content.length, SIZE, name);
        assert.equal(r.content[0].text.length, SIZE, name);
        for (const at of [0, 262144 - 7, 262144 * 5 + 3, SIZE - 26])
          assert.equal(r.structuredContent.content.slice(at, at + 26), want.slice(at % 26) + want.slice(0, at % 26), `${name} at ${at}`);
        assert.equal(r.content[0].text, r.structuredContent.content, name);
      }
    } finally {
      await ws.close();
      await http.close();
    }
  });

  test('a large answer after progress notifications goes out as one SSE event', { timeout: 60000 }, async () => {
    const H = { Authorization: `Bearer ${srv.key}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    const init = await httpRequest(srv, { headers: H, body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sse', version: '1' } } } });
    const h = { ...H, 'Mcp-Session-Id': init.headers['mcp-session-id'], 'MCP-Protocol-Version': '2025-11-25' };
    await httpRequest(srv, { headers: h, body: { jsonrpc: '2.0', method: 'notifications/initialized' } });
    const n = 900000;
    const r = await httpRequest(srv, {
      headers: h, timeout: 30000,
      body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'execute', _meta: { progressToken: 'p' }, arguments: { language: 'shell', code: `sleep 1.3; head -c ${n} /dev/zero | tr '\\0' b` } } },
    });
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /text\/event-stream/);
    const msgs = parseSse(r.text).map((e) => JSON.parse(e.data));
    assert.ok(msgs.some((m) => m.method === 'notifications/progress'), 'progress came first');
    const last = msgs[msgs.length - 1];
    assert.equal(last.id, 2);
    assert.equal(last.result.structuredContent.stdout, 'b'.repeat(n));
  });

  test("another client's pings stay fast while two clients read 8 MiB files in a loop", { timeout: 60000 }, async () => {
    const s = await bigReadPings(srv, { readers: 2, ms: 6000 });
    console.log(`# ${JSON.stringify(s)}`);
    assert.ok(s.reads >= 6, `the readers read ${s.reads} replies`);
    // before the answers were written off the loop: p99 235-660 ms, max 310-880 ms (2 readers, 2 CPUs)
    assert.ok(s.p99 < 120, `ping p99 ${s.p99.toFixed(1)} ms (median ${s.p50.toFixed(2)} ms, max ${s.max.toFixed(1)} ms)`);
  });
});
