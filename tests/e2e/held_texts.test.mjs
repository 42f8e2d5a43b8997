// A client that sends a large message and then a burst of small ones behind it (issue 11). The small ones
// wait, copied, while the large one is parsed off the loop; at most 1,024 texts and 128 MiB may wait per
// connection. A transport that can stop reading its client (stdio, a WebSocket) must do so before those
// bounds are reached, so that every message is answered with its own id: a refusal with id null leaves an
// SDK client waiting for answers that never come. Before, stdio never stopped reading and a WebSocket only
// counted bytes: 3,000 pings behind a 40 MB message got hundreds of "Server busy" refusals. Over HTTP each
// POST is a request of its own, which cannot be held back: past the bounds it is refused with HTTP 503,
// which an SDK client fails the request with, where a 200 carrying an error with id null left it waiting.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import http from 'node:http';
import { startRaw, startServe, httpRequest } from './helpers.mjs';

const SMALL = 3000;

/** The burst: initialize is done; one 40 MB ping, then SMALL pings, as one string of JSON lines. */
function burst() {
  const pad = 'p'.repeat(40 << 20);
  const lines = [JSON.stringify({ jsonrpc: '2.0', id: 'big', method: 'ping', params: { pad } })];
  for (let i = 0; i < SMALL; i++) lines.push(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'ping' }));
  return lines;
}

/** Every id answered with a result, none refused. */
function checkAnswers(messages) {
  const refused = messages.filter((m) => m.error);
  assert.equal(refused.length, 0, `${refused.length} refusals, e.g. ${JSON.stringify(refused[0])}`);
  const ids = new Set(messages.filter((m) => 'result' in m).map((m) => m.id));
  assert.ok(ids.has('big'), 'the large message was answered');
  for (let i = 0; i < SMALL; i++) assert.ok(ids.has(i), `ping ${i} was answered`);
}

describe('small messages behind a large one', () => {
  test('stdio stops reading instead of refusing them', { timeout: 110000 }, async () => {
    const srv = await startRaw();
    try {
      await srv.handshake();
      const from = srv.messages.length;
      srv.send(burst().join('\n') + '\n');
      await srv.waitFor(() => srv.messages.length - from >= SMALL + 1, { timeout: 90000, what: `${SMALL + 1} answers` });
      checkAnswers(srv.messages.slice(from));
      assert.equal(srv.badLines.length, 0);
    } finally {
      await srv.close();
    }
  });

  test('a WebSocket stops reading instead of refusing them', { timeout: 110000 }, async () => {
    const srv = await startServe({ config: { max_message: 64 << 20 } });
    const ws = new WebSocket(`${srv.base.replace(/^http/, 'ws')}/mcp`, { headers: { Authorization: `Bearer ${srv.key}` }, maxPayload: 0 });
    try {
      const messages = [];
      let want = 1, wake = null;
      ws.on('message', (d) => { messages.push(JSON.parse(d.toString())); if (messages.length >= want && wake) wake(); });
      const got = (n, ms) => new Promise((resolve, reject) => {
        want = n;
        if (messages.length >= n) return resolve();
        const t = setTimeout(() => reject(new Error(`${messages.length} of ${n} answers after ${ms} ms`)), ms);
        wake = () => { clearTimeout(t); resolve(); };
      });
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'held', version: '1' } } }));
      await got(1, 10000);
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      for (const line of burst()) ws.send(line);
      await got(SMALL + 2, 90000);
      checkAnswers(messages.slice(1));
    } finally {
      ws.terminate();
      await srv.close();
    }
  });
  test('an HTTP session refuses a POST past the bounds with 503, never with an error of id null', { timeout: 110000 }, async () => {
    const srv = await startServe({ config: { max_message: 64 << 20, max_unauthenticated: 4000,
      rate_limits: { requests: { per_minute: 100000, burst: 100000 } } } });
    try {
      const H = { Authorization: `Bearer ${srv.key}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
      const init = await httpRequest(srv, { headers: H, body: { jsonrpc: '2.0', id: 0, method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'held', version: '1' } } } });
      assert.equal(init.status, 200);
      const h = { ...H, 'Mcp-Session-Id': init.headers['mcp-session-id'], 'MCP-Protocol-Version': '2025-11-25' };
      await httpRequest(srv, { headers: h, body: { jsonrpc: '2.0', method: 'notifications/initialized' } });
      // 24 million numbers: seconds of parsing, during which the small ones wait
      const big = Buffer.from(`{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":[${'1,'.repeat(24 << 20)}1]}}`);
      // sent with node's own request, whose end callback says when the body is written
      let answered;
      const bigAnswer = new Promise((resolve, reject) => { answered = { resolve, reject }; });
      const req = http.request({ host: '127.0.0.1', port: srv.port, method: 'POST', path: '/mcp', agent: false,
        headers: { ...h, 'Content-Length': big.length } }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => answered.resolve({ status: res.statusCode, text }));
      });
      req.on('error', (e) => answered.reject(e));
      await new Promise((resolve) => req.end(big, resolve));
      const posts = [bigAnswer];
      await new Promise((r) => setTimeout(r, 300)); // received whole, now parsed
      for (let i = 0; i < 1600; i++) posts.push(httpRequest(srv, { headers: h, body: { jsonrpc: '2.0', id: i, method: 'ping' }, timeout: 90000 }));
      const answers = await Promise.all(posts);
      const nullIds = answers.filter((r) => r.status === 200 && /"id":null/.test(r.text));
      assert.equal(nullIds.length, 0, `${nullIds.length} answers with id null, e.g. ${nullIds[0]?.text}`);
      const busy = answers.filter((r) => r.status === 503);
      for (const r of busy) assert.match(r.text, /too many messages of this session wait/);
      answers.filter((r) => r.status !== 503).forEach((r, k) => assert.equal(r.status, 200, r.text.slice(0, 300)));
      assert.match(answers[0].text, /"id":"big"/);
      console.log(`# ${busy.length} of 1600 refused with 503`);
      assert.ok(busy.length > 0, 'no POST was past the bounds: the test did not reach them');
    } finally {
      await srv.close();
    }
  });
});
