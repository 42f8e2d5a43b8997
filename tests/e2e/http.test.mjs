// HTTP details real clients depend on: "Expect: 100-continue" (curl sends it for bodies over 1 MiB and
// waits a second for the 100 before sending the body) is answered with a 100 once the request is taken,
// on the MCP endpoint and on REST routes; a request refused on its headers gets its answer instead.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServe, PROTOCOL_LATEST } from './helpers.mjs';

/** Send head, wait up to ms for the server's first bytes (before any body); then body; resolve all it said. */
function expectExchange(srv, head, body, ms = 600) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    let got = '', early = null;
    const timer = setTimeout(() => { early = got; sock.write(body); }, ms);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (early === null && /\r\n\r\n/.test(got)) {
        clearTimeout(timer);
        early = got;
        if (/^HTTP\/1\.1 100 /.test(got)) sock.write(body);
        else setTimeout(() => { sock.destroy(); resolve({ early, all: got }); }, 200); // refused: as curl, send no body
      }
    });
    sock.on('end', () => resolve({ early, all: got }));
    sock.on('error', reject);
    sock.setTimeout(15000, () => { sock.destroy(); reject(new Error(`no end: ${got}`)); });
    sock.write(head);
  });
}

describe('Expect: 100-continue', () => {
  let srv;
  before(async () => { srv = await startServe(); });
  after(async () => { await srv?.close(); });

  const mcpHead = (key, len) => `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAuthorization: Bearer ${key}\r\n` +
    'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nExpect: 100-continue\r\n' +
    `Connection: close\r\nContent-Length: ${len}\r\n\r\n`;
  const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: PROTOCOL_LATEST, capabilities: {}, clientInfo: { name: 'expect', version: '1' } } });

  test('the MCP endpoint answers 100 Continue before the body, then the answer', async () => {
    const r = await expectExchange(srv, mcpHead(srv.key, Buffer.byteLength(init)), init);
    assert.match(r.early, /^HTTP\/1\.1 100 Continue\r\n\r\n/, `first bytes: ${JSON.stringify(r.early)}`);
    assert.match(r.all, /\r\n\r\nHTTP\/1\.1 200 /, r.all.slice(0, 300));
    assert.match(r.all, /"protocolVersion"/);
  });

  test('a request refused on its headers gets the refusal, no 100', async () => {
    const r = await expectExchange(srv, mcpHead('mcpbox_wrong', Buffer.byteLength(init)), init);
    assert.match(r.early, /^HTTP\/1\.1 401 /, `first bytes: ${JSON.stringify(r.early)}`);
  });

  test('a REST route (the executor dialect) answers 100 Continue too', async () => {
    const body = JSON.stringify({ execution_id: 'e1', session_id: 'expect', code: 'print(6 * 7)', language: 'python' });
    const head = `POST /compat/executor/execute HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nAuthorization: Bearer ${srv.key}\r\n` +
      `Content-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const r = await expectExchange(srv, head, body);
    assert.match(r.early, /^HTTP\/1\.1 100 Continue\r\n\r\n/, `first bytes: ${JSON.stringify(r.early)}`);
    assert.match(r.all, /\r\n\r\nHTTP\/1\.1 200 /, r.all.slice(0, 300));
    assert.match(r.all, /42/);
  });
});
