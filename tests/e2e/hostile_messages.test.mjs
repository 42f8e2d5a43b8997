// A client sending the largest messages it may (max_message, 64 MiB): parsing them must not hold up
// the other clients (issue 11: each text was parsed on the loop thread; a 60 MB message took 0.9 s,
// and another key's ping waited 0.7-2.5 s while one key posted).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, httpClient, httpRequest, createKey, sleep } from './helpers.mjs';

const ACCEPT = 'application/json, text/event-stream';

describe('large messages', () => {
  test("another key's pings stay fast while a key posts 48 MiB messages over HTTP", { timeout: 120000 }, async () => {
    const srv = await startServe({});
    const other = await httpClient(srv, { key: createKey(srv.dataDir, { name: 'quiet' }).key });
    const big = createKey(srv.dataDir, { name: 'big' }).key;
    try {
      const H = { Authorization: `Bearer ${big}`, 'Content-Type': 'application/json', Accept: ACCEPT };
      const init = await httpRequest(srv, { headers: H, body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'big', version: '1' } } } });
      assert.equal(init.status, 200);
      const h = { ...H, 'Mcp-Session-Id': init.headers['mcp-session-id'], 'MCP-Protocol-Version': '2025-11-25' };
      await httpRequest(srv, { headers: h, body: { jsonrpc: '2.0', method: 'notifications/initialized' } });
      // written before the pings start: building them would hold up this process's own loop
      const pad = 'a'.repeat(48 << 20);
      const bodies = [1, 2, 3, 4].map((id) => Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: 'ping', params: { pad } })));
      await other.client.ping();

      const lat = [];
      let posting = true;
      const pinger = (async () => {
        while (posting) {
          const t0 = performance.now();
          await other.client.ping();
          lat.push(performance.now() - t0);
          await sleep(5);
        }
      })();
      try {
        for (const [i, body] of bodies.entries()) {
          const r = await httpRequest(srv, { headers: h, body, timeout: 60000 });
          assert.equal(r.status, 200, r.text.slice(0, 300));
          assert.match(r.text, new RegExp(`"id":${i + 1}\\b.*"result":\\{\\}|"result":\\{\\}.*"id":${i + 1}\\b`), r.text.slice(0, 300));
        }
        // a large body that is not JSON still gets the parse error
        const bad = bodies[0].subarray(0, bodies[0].length - 2);
        const r = await httpRequest(srv, { headers: h, body: bad, timeout: 60000 });
        assert.match(r.text, /-32700/, r.text.slice(0, 300));
      } finally {
        posting = false;
        await pinger;
      }
      lat.sort((a, b) => a - b);
      const p50 = lat[Math.floor(lat.length / 2)], max = lat[lat.length - 1];
      console.log(`# ${lat.length} pings of the other key: p50 ${p50.toFixed(1)} ms, slowest ${lat.slice(-5).map((x) => x.toFixed(0)).join(", ")} ms`);
      assert.ok(lat.length >= 10, `only ${lat.length} pings while the large messages were posted`);
      assert.ok(p50 < 50, `ping p50 ${p50.toFixed(1)} ms`);
      assert.ok(max < 300, `ping max ${max.toFixed(1)} ms (p50 ${p50.toFixed(1)} ms)`);
    } finally {
      await other.close();
      await srv.close();
    }
  });
});
