// Large JSON texts and other keys (issue 11): a REST dialect's request body was parsed on the loop by
// its route (about 15 ms per MB: a key posting 40 MB bodies held every other client ~0.5 s each), and
// large MCP texts were parsed on libuv's pool outside the per-key fair queue (one key's many 30 MB
// texts took every pool thread, and another key's file_list waited behind all of them). Both now go
// through the fair queue (server/base/pool.h) in their sender's turn.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startServe, httpClient, httpRequest, createKey, sleep, poll, UNDER_ASAN } from './helpers.mjs';

const ACCEPT = 'application/json, text/event-stream';

// p50 and the slowest of a list of latencies (ms)
function spread(lat) {
  const s = [...lat].sort((a, b) => a - b);
  return { n: s.length, p50: s[Math.floor(s.length / 2)], p99: s[Math.floor(s.length * 0.99)], max: s[s.length - 1], top: s.slice(-5).map((x) => x.toFixed(0)).join(', ') };
}

// run fn again and again (sleeping pause ms between) until during() resolves; its latencies
async function keepTiming(fn, during, pause = 5) {
  const lat = [];
  let going = true;
  const loop = (async () => {
    while (going) {
      const t0 = performance.now();
      await fn();
      lat.push(performance.now() - t0);
      await sleep(pause);
    }
  })();
  try {
    await during();
  } finally {
    going = false;
    await loop;
  }
  return lat;
}

// What a dialect's error says, without what differs between two requests (ids, times, positions).
function gist(res) {
  return JSON.stringify(res.json, (k, v) => (['request_id', 'timestamp', 'input', 'trace_id', 'execution_time_ms'].includes(k) ? undefined : v));
}

// Over SoulBox's /ws/execute (messages up to 1 MiB; from 256 KiB parsed off the loop, the connection
// not read meanwhile): n pings of about 1 MiB and then a small one, answered in order; the pongs.
async function wsBigPings(srv, key, n) {
  const ws = new WebSocket(`${srv.base.replace('http', 'ws')}/ws/execute`, { headers: { 'X-API-Key': key } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const got = [];
  const done = new Promise((resolve) => ws.on('message', (d) => { got.push(JSON.parse(d)); if (got.length === n + 2) resolve(); }));
  const pad = 'p'.repeat((1 << 20) - 100);
  for (let i = 0; i < n; i++) ws.send(JSON.stringify({ type: 'ping', pad }));
  ws.send(JSON.stringify({ type: 'execute', language: 'python', code: pad, timeout: 'soon' }));
  ws.send('{"type": "ping"}');
  await done;
  ws.close();
  return got;
}

// Pings of key, every 5 ms, from a process of their own (so that this one's work on 60 MB buffers does not
// show as the server's): stop() ends them and gives their latencies (ms).
async function pingerProcess(srv, key) {
  const code = `
    const [url, key] = process.argv.slice(1);
    const H = { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
    const post = (body, h = H) => fetch(url, { method: 'POST', headers: h, body: JSON.stringify(body) });
    (async () => {
      const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'pinger', version: '1' } } });
      await init.text();
      const h = { ...H, 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': '2025-11-25' };
      await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, h)).text();
      let going = true;
      process.stdin.on('data', () => { going = false; });
      process.stdout.write('ready\\n');
      const lat = [];
      for (let i = 1; going; i++) {
        const t0 = performance.now();
        const r = await post({ jsonrpc: '2.0', id: i, method: 'ping' }, h);
        if (!(await r.text()).includes('"result"')) throw new Error('ping ' + i + ' failed');
        lat.push(performance.now() - t0);
        await new Promise((res) => setTimeout(res, 5));
      }
      process.stdout.write(JSON.stringify(lat) + '\\n');
      process.exit(0);
    })();`;
  const child = spawn(process.execPath, ['-e', code, srv.url, key], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await poll(() => out.includes('ready\n'), { timeout: 10000 });
  return {
    stop: async () => {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.stdin.write('stop\n');
      assert.equal(await exited, 0, 'the pinger failed');
      return JSON.parse(out.split('\n')[1]);
    },
  };
}

// Until process pid has used no more than a tick of CPU in 250 ms (at most 60 s).
async function serverSettled(pid) {
  const cpu = () => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
  for (let t0 = Date.now(), last = cpu(); Date.now() - t0 < 60000;) {
    await sleep(250);
    const now = cpu();
    if (now - last <= 1) return;
    last = now;
  }
}

describe('large JSON texts and other keys', () => {
  test("another key's pings stay fast while a key posts 40 MB bodies to the REST dialects, which answer as for small ones", { timeout: 180000 }, async () => {
    const srv = await startServe({});
    const other = await httpClient(srv, { key: createKey(srv.dataDir, { name: 'quiet' }).key });
    const big = createKey(srv.dataDir, { name: 'big' }).key;
    try {
      const pad = 'a'.repeat(40 << 20);
      const array = Buffer.from(JSON.stringify([pad]));
      const dup = Buffer.from(`{"name": ${JSON.stringify(pad)}, "name": "x"}`);
      const scalar = Buffer.from(JSON.stringify(pad));
      // not JSON (an unterminated string): FastAPI's answer names the position Python's decoder stops at,
      // which takes reading it all (about 2 ms per MB, on the loop before)
      const broken = Buffer.from(`{"code": "${pad}`);
      const posts = [
        // [path, headers, large body, the same error for a small body]
        ['/api/sandboxes', { 'X-API-Key': big }, array, '["a"]'],			// SoulBox: JSON_REJECT_DUPLICATES
        ['/api/v1/sandboxes', { 'X-API-KEY': big }, array, '["a"]'],			// the manager: flags 0
        ['/api/v1/session/create', { Authorization: `Bearer ${big}` }, array, '["a"]'],	// AgentFlow: flags 0
        ['/compat/executor/execute', { 'X-API-Key': big }, array, '["a"]'],		// FastAPI: JSON_DECODE_ANY
        // bodies whose answer depends on the flags: the message names a token or a position
        ['/api/sandboxes', { 'X-API-Key': big }, dup, '{"name": "a", "name": "x"}',
          (j) => /^Malformed JSON: duplicate object key near '"name"' \(at character \d+\)$/.test(j.error.details.reason)],
        ['/api/v1/sandboxes', { 'X-API-KEY': big }, scalar, '"a"',
          (j) => j.error.message === "malformed JSON body: '[' or '{' expected"], // jansson names no token this long
        ['/compat/executor/execute', { 'X-API-Key': big }, scalar, '"a"',
          (j) => j.detail[0].type === 'model_attributes_type' && j.detail[0].input.length === pad.length],
        ['/compat/executor/execute', { 'X-API-Key': big }, broken, '{"code": "a'],		// FastAPI: Python's position
        ['/api/v1/execute', { Authorization: `Bearer ${big}` }, broken, '{"code": "a'],	// AgentFlow's FastAPI models
        // a type that is not JSON: FastAPI echoes the body
        ['/compat/executor/execute', { 'X-API-Key': big, 'Content-Type': 'text/plain' }, array, '["a"]',
          (j) => j.detail[0].type === 'model_attributes_type' && j.detail[0].input.length === array.length],
      ];
      await other.client.ping();
      const answers = [];
      const lat = await keepTiming(() => other.client.ping(), async () => {
        for (const [p, h, body] of posts) {
          answers.push(await httpRequest(srv, { path: p, headers: { 'Content-Type': 'application/json', ...h }, body, timeout: 60000 }));
        }
        const pongs = await wsBigPings(srv, big, 16);
        assert.deepEqual(pongs.map((m) => m.type), [...Array(16).fill('pong'), 'error', 'pong'], JSON.stringify(pongs).slice(0, 300));
        assert.equal(pongs[16].error.details.field, 'timeout', JSON.stringify(pongs[16]));
      });
      const s = spread(lat);
      console.log(`# ${s.n} pings of the other key: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, slowest ${s.top} ms`);
      assert.ok(s.n >= 10, `only ${s.n} pings while the bodies were posted`);
      assert.ok(s.p50 < 50, `ping p50 ${s.p50.toFixed(1)} ms`);
      // the old build: p99 1274 ms, max 1324 ms (each 40 MB body held the loop ~0.5 s); this one ~45 ms
      assert.ok(s.p99 < 300, `ping p99 ${s.p99.toFixed(1)} ms (p50 ${s.p50.toFixed(1)} ms, max ${s.max.toFixed(1)} ms)`);
      for (const [i, [p, h, , small, check]] of posts.entries()) {
        const want = await httpRequest(srv, { path: p, headers: { 'Content-Type': 'application/json', ...h }, body: small });
        const got = answers[i];
        assert.ok(got.status >= 400 && got.status < 500, `${p}: ${got.status} ${got.text.slice(0, 300)}`);
        assert.equal(got.status, want.status, `${p}: ${got.text.slice(0, 300)} / ${want.text.slice(0, 300)}`);
        if (!check) assert.equal(gist(got), gist(want), p);
        else assert.ok(check(got.json), `${p}: ${got.text.slice(0, 300)}`);
      }
    } finally {
      await other.close();
      await srv.close();
    }
  });

  test("FastAPI's refusal of a 60 MB body that is not JSON is worked out off the loop", { timeout: 180000 }, async () => {
    const srv = await startServe({});
    const big = createKey(srv.dataDir, { name: 'big' }).key;
    try {
      // 30 million numbers and no end, after one jansson refuses at once (too big for it, not for Python):
      // the position Python names (the end) takes a scan of them all, about 190 ms on the loop before (the
      // other key's pings waited that long, once per body)
      const nums = Buffer.from(`{"code": [100000000000000000000000000,${'1,'.repeat(30 << 20)}`);
      const pinger = await pingerProcess(srv, createKey(srv.dataDir, { name: 'quiet' }).key);
      const answers = [];
      let lat;
      try {
        for (const p of ['/compat/executor/execute', '/api/v1/execute', '/compat/executor/execute', '/api/v1/execute']) {
          answers.push(await httpRequest(srv, { path: p, headers: { 'Content-Type': 'application/json', 'X-API-Key': big, Authorization: `Bearer ${big}` }, body: nums, timeout: 60000 }));
        }
      } finally {
        lat = await pinger.stop();
      }
      for (const r of answers) {
        assert.equal(r.status, 422, r.text.slice(0, 300));
        assert.deepEqual(r.json.detail[0].loc, ['body', nums.length], r.text.slice(0, 300));
        assert.equal(r.json.detail[0].ctx.error, 'Expecting value');
      }
      const s = spread(lat);
      const slow = lat.filter((x) => x > 100).length;
      console.log(`# ${s.n} pings of the other key: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, slowest ${s.top} ms`);
      assert.ok(s.n >= 10, `only ${s.n} pings while the bodies were posted`);
      // the build before: one ping of 180-190 ms per body (a busy machine); this one: none over 15 ms
      assert.ok(slow <= 1, `${slow} pings over 100 ms (slowest ${s.top} ms)`);
    } finally {
      await srv.close();
    }
  });

  test("bodies without a valid key share one turn on the pool, from however many addresses", { timeout: 180000 }, async () => {
    const srv = await startServe({});
    const other = await httpClient(srv, { key: createKey(srv.dataDir, { name: 'quiet' }).key });
    try {
      // 12 million numbers: about 0.4 s of parsing each; the route refuses them (no key) once parsed
      const nums = Buffer.from(`[${'1,'.repeat(12 << 20)}1]`);
      const list = async () => {
        const r = await other.call('file_list', { path: '.' });
        assert.ok(!r.isError, JSON.stringify(r).slice(0, 300));
      };
      await list();
      const answers = [];
      const lat = await keepTiming(list, async () => {
        // eight addresses, two bodies each at once: a turn per address gave them every pool thread
        await Promise.all([2, 3, 4, 5, 6, 7, 8, 9].flatMap((a) => [0, 1].map(async () => {
          answers.push(await httpRequest(srv, { path: '/api/sandboxes', headers: { 'Content-Type': 'application/json', 'X-API-Key': 'not-a-key' }, body: nums, timeout: 120000, localAddress: `127.0.0.${a}` }));
        })));
      }, 60); // within the key's 1,200 requests a minute
      for (const r of answers) assert.equal(r.status, 401, r.text.slice(0, 300));
      // their values are freed off the loop in the same turn: let that end before the server is stopped
      await serverSettled(srv.pid);
      const s = spread(lat);
      console.log(`# ${s.n} file_list calls of the other key: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, slowest ${s.top} ms`);
      assert.ok(s.n >= 10, `only ${s.n} listings while the bodies were posted`);
      assert.ok(s.max < 1000, `file_list max ${s.max.toFixed(1)} ms (p50 ${s.p50.toFixed(1)} ms, slowest ${s.top} ms)`);
    } finally {
      await other.close();
      // make asan's leak check at exit scans the heap these bodies grew: seconds
      await srv.close({ timeout: UNDER_ASAN ? 60000 : 5000 });
    }
  });

  test("one key's many large MCP texts leave another key's file_list its turn on the pool", { timeout: 180000 }, async () => {
    const srv = await startServe({});
    const other = await httpClient(srv, { key: createKey(srv.dataDir, { name: 'quiet' }).key });
    const big = createKey(srv.dataDir, { name: 'big' }).key;
    try {
      const H = { Authorization: `Bearer ${big}`, 'Content-Type': 'application/json', Accept: ACCEPT };
      // eight sessions of the big key: each parses one text at a time, together they could fill the pool
      const sessions = [];
      for (let i = 0; i < 8; i++) {
        const init = await httpRequest(srv, { headers: H, body: { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'big', version: '1' } } } });
        assert.equal(init.status, 200);
        const h = { ...H, 'Mcp-Session-Id': init.headers['mcp-session-id'], 'MCP-Protocol-Version': '2025-11-25' };
        await httpRequest(srv, { headers: h, body: { jsonrpc: '2.0', method: 'notifications/initialized' } });
        sessions.push(h);
      }
      const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'a'.repeat(30 << 20) } }));
      const list = async () => {
        const r = await other.call('file_list', { path: '.' });
        assert.ok(!r.isError, JSON.stringify(r).slice(0, 300));
      };
      await list(); // its sandbox is made before the timing starts
      await list();
      const lat = await keepTiming(list, async () => {
        for (let round = 0; round < 3; round++) {
          await Promise.all(sessions.map(async (h) => {
            const r = await httpRequest(srv, { headers: h, body, timeout: 120000 });
            assert.equal(r.status, 200, r.text.slice(0, 300));
            assert.match(r.text, /"result":\{\}/, r.text.slice(0, 300));
          }));
        }
      });
      const s = spread(lat);
      console.log(`# ${s.n} file_list calls of the other key: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, slowest ${s.top} ms`);
      assert.ok(s.n >= 10, `only ${s.n} listings while the texts were posted`);
      // the old build: p99 ~2300 ms, max 3-6 s (every pool thread parsed the big key's texts); this one ~80 ms
      assert.ok(s.p99 < 400, `file_list p99 ${s.p99.toFixed(1)} ms (p50 ${s.p50.toFixed(1)} ms, max ${s.max.toFixed(1)} ms)`);
    } finally {
      await other.close();
      await srv.close();
    }
  });
});
