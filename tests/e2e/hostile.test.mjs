// Clients written as an attacker would: what one of them holds in the server is bounded, and the
// others keep working within their usual latency.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServe, wsClient, httpClient, httpRequest, createKey, sleep, poll } from './helpers.mjs';

/** A WebSocket by hand on a raw socket, so that it can stop reading (or break the protocol). */
function rawWs(srv, { key = srv.key, mask = true, path: wsPath = '/mcp', protocol = 'mcp' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    let head = '';
    const onData = (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      if (!/^HTTP\/1\.1 101/.test(head)) { reject(new Error(head)); return; }
      resolve({
        sock,
        send(obj, op = 0x81) {
          const payload = Buffer.isBuffer(obj) ? obj : Buffer.from(JSON.stringify(obj));
          const n = payload.length;
          const hdr = n < 126 ? Buffer.from([op, (mask ? 0x80 : 0) | n])
            : n < 65536 ? Buffer.from([op, (mask ? 0x80 : 0) | 126, n >> 8, n & 255])
              : (() => { const b = Buffer.alloc(10); b[0] = op; b[1] = (mask ? 0x80 : 0) | 127; b.writeBigUInt64BE(BigInt(n), 2); return b; })();
          if (!mask) { sock.write(Buffer.concat([hdr, payload])); return; }
          const m = crypto.randomBytes(4);
          const body = Buffer.from(payload);
          for (let i = 0; i < body.length; i++) body[i] ^= m[i & 3];
          sock.write(Buffer.concat([hdr, m, body]));
        },
      });
    };
    sock.on('data', onData);
    sock.on('error', reject);
    sock.write(`GET ${wsPath} HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + `Authorization: Bearer ${key}\r\n\r\n`);
  });
}

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

describe('a client that does not read its replies', () => {
  test('WebSocket: 300 unread 8 MB file_read replies: the server stays small, closes that client, others are unaffected', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { client_stall: '3s' } });
    const other = await wsClient(srv);
    try {
      const w = await rawWs(srv);
      const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'hog', version: '1' } } };
      w.send(INIT);
      w.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      w.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: 'head -c 8000000 /dev/zero | tr "\\0" a > big' } } });
      await sleep(1500);
      w.sock.pause(); // never read again
      let closed = false;
      w.sock.on('close', () => { closed = true; });
      w.sock.on('error', () => { closed = true; });
      for (let i = 0; i < 300; i++) w.send({ jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'file_read', arguments: { path: 'big' } } });
      let peak = 0;
      const lat = [];
      for (let i = 0; i < 40 && !closed; i++) {
        peak = Math.max(peak, rssMb(srv.pid));
        const t0 = performance.now();
        await other.client.ping();
        lat.push(performance.now() - t0);
        await sleep(100);
      }
      peak = Math.max(peak, rssMb(srv.pid));
      // it stopped reading the hog's requests once 16 MiB waited, and closes it after client_stall
      // (a paused socket never sees the close: ask the server how many WebSockets it holds)
      const sockets = async () => Number(/^mcpbox_connections\{transport="websocket"\} (\d+)/m.exec(
        (await httpRequest(srv, { method: 'GET', path: '/metrics', headers: { Authorization: `Bearer ${srv.key}` } })).text)[1]);
      const held = await sockets();
      console.log(`# after the flood: ${held} WebSockets, peak RSS ${peak.toFixed(0)} MB`);
      const deadline = Date.now() + 15000;
      while (!closed && Date.now() < deadline && await sockets() > 1) { await sleep(200); peak = Math.max(peak, rssMb(srv.pid)); }
      assert.equal(await sockets(), 1, 'the server closed the client that read nothing');
      assert.ok(peak < 700, `server RSS peaked at ${peak.toFixed(0)} MB (300 replies of 8 MB would be 2.4 GB)`);
      console.log(`# peak RSS ${peak.toFixed(0)} MB; other client's pings: ${lat.length}`);
      lat.sort((a, b) => a - b);
      assert.ok(lat.length === 0 || lat[Math.floor(lat.length / 2)] < 200, `the other client's ping median ${lat[Math.floor(lat.length / 2)]} ms`);
      const r = await other.call('execute', { language: 'shell', code: 'echo fine' });
      assert.equal(r.structuredContent.stdout, 'fine\n');
      w.sock.destroy();
    } finally {
      await other.close();
      await srv.close();
    }
  });
  test('VNC viewer: one that keeps requesting updates and reads none is dropped; the server stays small', { timeout: 120000 }, async () => {
    const srv = await startServe({});
    const c = await wsClient(srv);
    try {
      const sid = (await c.call('session_create', { display: true })).structuredContent.session_id;
      assert.equal((await c.call('screenshot', { session_id: sid })).isError, undefined);
      const v = await rawWs(srv, { path: `/sessions/${sid}/vnc`, protocol: null });
      let broken = false;
      v.sock.on('error', () => { broken = true; });
      v.sock.on('close', () => { broken = true; });
      await sleep(300);
      v.sock.pause(); // reads nothing from here on
      v.send(Buffer.from('RFB 003.008\n'), 0x82);
      v.send(Buffer.from([1]), 0x82); // security type None (the owner's key)
      v.send(Buffer.from([1]), 0x82); // ClientInit, shared
      // FramebufferUpdateRequest, non-incremental, whole screen: 64 KiB of them per frame
      const req = Buffer.from([3, 0, 0, 0, 0, 0, 0x05, 0, 0x03, 0x20]);
      const burst = Buffer.concat(Array(6553).fill(req));
      let peak = 0;
      for (let i = 0; i < 800 && !broken; i++) {
        v.send(burst, 0x82);
        if (i % 50 === 0) { peak = Math.max(peak, rssMb(srv.pid)); await sleep(10); }
      }
      peak = Math.max(peak, rssMb(srv.pid));
      assert.ok(broken, 'the server dropped the viewer (50 MB of requests it never took)');
      assert.ok(peak < 400, `server RSS peaked at ${peak.toFixed(0)} MB`);
      assert.equal((await c.call('screenshot', { session_id: sid })).isError, undefined, 'the display still works');
      v.sock.destroy();
    } finally {
      await c.close();
      await srv.close();
    }
  });
});

describe('quotas per key', () => {
  // one key made 60 sessions of 16 GiB each in 0.5 s: now each key holds at most its quota
  test('sessions, memory, running executions and snapshots are bounded per key; another key is unaffected', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { quota: { sessions: 3, memory: '2G', executions: 2, snapshots: 1, server_executions: 3 } } });
    const { dataDir } = srv;
    const a = await wsClient(srv, { key: createKey(dataDir, { name: 'tenant-a' }).key });
    const b = await wsClient(srv, { key: createKey(dataDir, { name: 'tenant-b' }).key });
    const quotaError = (r, re) => {
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, re);
    };
    try {
      quotaError(await a.call('session_create', { memory_mb: 4096 }), /quota: this key may hold 2048 MiB of memory; it holds 0 MiB and asked for 4096 MiB more/);
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await a.call('session_create', { memory_mb: 512 })).structuredContent.session_id);
      quotaError(await a.call('session_create', { memory_mb: 512 }), /quota: this key may hold 3 sessions and holds 3/);
      quotaError(await a.call('execute', { language: 'shell', code: 'true' }), /3 sessions/); // its default session would be a 4th
      // the other tenant is unaffected
      const bs = await b.call('session_create', { memory_mb: 512 });
      assert.equal(bs.isError, undefined, JSON.stringify(bs));
      // running executions
      const slow = [0, 1].map(() => a.call('execute', { language: 'shell', code: 'sleep 1.5', session_id: ids[0] }));
      await sleep(500);
      quotaError(await a.call('execute', { language: 'shell', code: 'true', session_id: ids[1] }), /2 running executions and holds 2 \(wait for one to finish\)/);
      // the whole server's bound (3) holds for the other key too
      const bslow = b.call('execute', { language: 'shell', code: 'sleep 1', session_id: bs.structuredContent.session_id });
      await sleep(300);
      quotaError(await b.call('execute', { language: 'shell', code: 'true', session_id: bs.structuredContent.session_id }), /the server runs 3 executions, its maximum/);
      assert.equal((await bslow).isError, undefined);
      for (const r of await Promise.all(slow)) assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.equal((await a.call('execute', { language: 'shell', code: 'true', session_id: ids[1] })).isError, undefined);
      // snapshots
      assert.equal((await a.call('session_snapshot', { session_id: ids[0] })).isError, undefined);
      quotaError(await a.call('session_snapshot', { session_id: ids[1] }), /1 snapshots and holds 1/);
      // freeing one makes room again
      await a.call('session_destroy', { session_id: ids[2] });
      assert.equal((await a.call('session_create', { memory_mb: 512 })).isError, undefined);
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('quotas per key: kernel cells', () => {
  // a kernel cell was admitted against quota.executions but counted only once its kernel had started and
  // taken it: every cell (and program) asked while a kernel started was admitted, past the key's cap and
  // past the server's
  test('a kernel cell counts as a running execution from its admission; another key still runs one', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { quota: { executions: 1, server_executions: 2 } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-b' }).key });
    const refused = (r, re) => {
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, re);
    };
    const ok = (r, what) => assert.equal(r.isError, undefined, `${what}: ${JSON.stringify(r).slice(0, 300)}`);
    try {
      const sa = (await a.call('session_create', {})).structuredContent.session_id;
      const sb = (await b.call('session_create', {})).structuredContent.session_id;
      // each first cell waits for its kernel to start (a second or more); the calls after it come meanwhile
      const cellA = a.call('execute', { language: 'python', kernel: true, code: 'print("a")', session_id: sa });
      const mine = /quota: this key may hold 1 running executions and holds 1 \(wait for one to finish\)/;
      refused(await a.call('execute', { language: 'shell', code: 'echo past the cap', session_id: sa }), mine);
      refused(await a.call('execute', { language: 'shell', kernel: true, code: 'echo past the cap', session_id: sa }), mine);
      refused(await a.call('execute', { language: 'python', kernel: true, code: 'print("queued")', session_id: sa }), mine);
      // the other key is not held back by a's cap, only by the server's (2: a's cell and b's)
      const cellB = b.call('execute', { language: 'python', kernel: true, code: 'print("b")', session_id: sb });
      refused(await b.call('execute', { language: 'shell', code: 'true', session_id: sb }), /the server runs 2 executions, its maximum/);
      const ra = await cellA, rb = await cellB;
      ok(ra, 'a\'s cell');
      ok(rb, 'b\'s cell');
      assert.equal(ra.structuredContent.stdout, 'a\n');
      assert.equal(rb.structuredContent.stdout, 'b\n');
      assert.equal(ra.structuredContent.kernel.started, true, 'the cell waited for its kernel to start');
      // ended cells give their places back
      ok(await a.call('execute', { language: 'python', kernel: true, code: 'print(1)', session_id: sa }), 'a\'s next cell');
      ok(await a.call('execute', { language: 'shell', code: 'true', session_id: sa }), 'a\'s program');
      ok(await b.call('execute', { language: 'shell', code: 'true', session_id: sb }), 'b\'s program');
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('the store: what one key makes it keep', () => {
  const sql = (srv, q) => {
    const r = spawnSync('sqlite3', ['-cmd', '.timeout 10000', path.join(srv.dataDir, 'mcpbox.db'), q], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  // every session call a key made (create, update, stop, start, destroy, snapshots) added an audit row
  // that was never removed: 1,200 calls a minute of one key grew the store without end
  test('the audit trail keeps the newest rows of each key, and the newest of everyone', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { audit_keep: 6, audit_keep_per_key: 3 } });
    const keyA = createKey(srv.dataDir, { name: 'flood' }), keyB = createKey(srv.dataDir, { name: 'quiet' });
    const a = await wsClient(srv, { key: keyA.key });
    const b = await wsClient(srv, { key: keyB.key });
    try {
      const sb = (await b.call('session_create', {})).structuredContent.session_id;
      assert.equal((await b.call('session_update', { session_id: sb, labels: { n: 'b1' } })).isError, undefined);
      const sa = (await a.call('session_create', {})).structuredContent.session_id;
      for (let i = 0; i < 12; i++)
        assert.equal((await a.call('session_update', { session_id: sa, labels: { n: `a${i}` } })).isError, undefined);
      await poll(() => sql(srv, `SELECT count(*) FROM audit WHERE principal = '${keyA.id}'`) === '3', { timeout: 3000 });
      const rows = (who) => sql(srv, `SELECT action || ' ' || object FROM audit WHERE principal = '${who}' ORDER BY seq`).split('\n');
      assert.deepEqual(rows(keyA.id), Array(3).fill(`session.update ${sa}`), 'the flooding key keeps its newest 3');
      assert.deepEqual(rows(keyB.id), [`session.create ${sb}`, `session.update ${sb}`], "the other key's rows stay");
      // everyone's: 6 at most, the newest
      const c = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'third' }).key });
      try {
        const sc = (await c.call('session_create', {})).structuredContent.session_id;
        for (let i = 0; i < 3; i++) await c.call('session_update', { session_id: sc, labels: { n: `c${i}` } });
      } finally { await c.close(); }
      await sleep(300);
      assert.equal(sql(srv, 'SELECT count(*) FROM audit'), '6');
      assert.equal(sql(srv, `SELECT count(*) FROM audit WHERE principal = '${keyB.id}'`), '0', "the oldest rows went");
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });

  // a destroyed session's record stayed (with its env, up to 8 MiB), and so did a deleted snapshot's:
  // making and destroying sessions grew the store without end
  test('records of deleted sessions and snapshots are kept up to deleted_keep; a deleted session keeps no env', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { deleted_keep: 2 } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'churn' }).key });
    try {
      const big = 'x'.repeat(30000);
      const live = (await a.call('session_create', { env: { BIG: big } })).structuredContent.session_id;
      const gone = [];
      for (let i = 0; i < 4; i++) {
        const id = (await a.call('session_create', { env: { BIG: big } })).structuredContent.session_id;
        assert.equal((await a.call('session_destroy', { session_id: id })).isError, undefined);
        gone.push(id);
      }
      for (let i = 0; i < 3; i++) {
        const sn = await a.call('session_snapshot', { session_id: live });
        assert.equal(sn.isError, undefined, JSON.stringify(sn));
        assert.equal((await a.call('snapshot_delete', { snapshot_id: sn.structuredContent.snapshot_id })).isError, undefined);
      }
      await sleep(300);
      assert.equal(sql(srv, "SELECT group_concat(id) FROM (SELECT id FROM sessions WHERE status = 'deleted' ORDER BY updated_at)"),
        gone.slice(2).join(','), 'the newest 2 deleted sessions');
      assert.equal(sql(srv, "SELECT count(*) FROM sessions WHERE status = 'deleted' AND doc LIKE '%xxxxxxxx%'"), '0', 'without their env');
      assert.equal(sql(srv, `SELECT count(*) FROM sessions WHERE id = '${live}' AND doc LIKE '%xxxxxxxx%'`), '1', 'a live one keeps it');
      assert.equal(sql(srv, 'SELECT count(*) FROM snapshots WHERE deleted_at IS NOT NULL'), '2');
    } finally {
      await a.close();
      await srv.close();
    }
  });

  // a session's env could hold 256 values of 32 KiB (8 MiB), stored in its record and rewritten at each
  // save (last_active, every 10 s while used): 32 sessions of one key made 25 MB/s of writes, and no
  // program could start with more than 256 KiB of it anyway
  test("a session's env takes at most 128 KiB in all, at creation and through session_update", { timeout: 60000 }, async () => {
    const srv = await startServe();
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'env-hoarder' }).key });
    const vars = (prefix, n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, 'v'.repeat(32768)]));
    const tooBig = /env: the session's variables would take \d+ bytes \(names and values\); a session's take at most 131072 \(128 KiB: every program's start carries them\)/;
    try {
      const big = await a.call('session_create', { env: vars('A', 4) });
      assert.equal(big.isError, true, JSON.stringify(big).slice(0, 200));
      assert.match(big.content[0].text, tooBig);
      const sid = (await a.call('session_create', { env: vars('A', 3) })).structuredContent.session_id;
      const more = await a.call('session_update', { session_id: sid, env: vars('B', 1) });
      assert.equal(more.isError, true, JSON.stringify(more).slice(0, 200));
      assert.match(more.content[0].text, tooBig);
      assert.equal((await a.call('session_update', { session_id: sid, env: vars('A', 3) })).isError, undefined, 'replacing values keeps the size');
      const n = await a.call('execute', { session_id: sid, language: 'shell', code: 'env | grep -c "^[AB][0-9]*="' });
      assert.equal(n.structuredContent?.stdout, "3\n", `the refused update changed nothing: ${JSON.stringify(n).slice(0, 300)}`);
    } finally {
      await a.close();
      await srv.close();
    }
  });

  // an environment made through 003's API and destroyed another way (session_destroy, its idle end) left
  // its spec (with its env and labels) in the store and in memory, for each one made and destroyed so
  test("003's environment spec goes with its session however it is destroyed", { timeout: 60000 }, async () => {
    const srv = await startServe();
    const k = createKey(srv.dataDir, { name: 'env-churn' });
    const a = await wsClient(srv, { key: k.key });
    try {
      const made = await httpRequest(srv, { method: 'POST', path: '/api/v1/environments',
        headers: { Authorization: `Bearer ${k.key}`, 'Content-Type': 'application/json' },
        body: { name: 'churn', image: 'python:3.11-slim', resources: { cpu: '500m', memory: '256Mi', storage: '1Gi' }, env: { BIG: 'y'.repeat(30000) } } });
      assert.equal(made.status, 201, made.text);
      const id = made.json.id;
      assert.equal(sql(srv, `SELECT count(*) FROM rest_objects WHERE id = '${id}'`), '1');
      assert.equal((await a.call('session_destroy', { session_id: id })).isError, undefined);
      assert.equal(sql(srv, `SELECT count(*) FROM rest_objects WHERE id = '${id}'`), '0', 'its spec left the store');
      const listed = await httpRequest(srv, { method: 'GET', path: '/api/v1/environments', headers: { Authorization: `Bearer ${k.key}` } });
      assert.equal(listed.status, 200, listed.text);
      assert.ok(!listed.text.includes(id), listed.text.slice(0, 300));
    } finally {
      await a.close();
      await srv.close();
    }
  });
});

describe('quotas per key: API keys', () => {
  // key_create had no bound: a key minted keys without end (1,200 a second, each a row in the store and
  // a fresh rate-limit bucket), and each of them could mint more
  test('a key and the keys it made hold at most quota.keys (1000) keys; revoked ones make room; another key is unaffected', { timeout: 120000 }, async () => {
    const srv = await startServe({});
    const a = createKey(srv.dataDir, { name: 'tenant-a' });
    const ca = await wsClient(srv, { key: a.key });
    const cb = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-b' }).key });
    const admin = await wsClient(srv);
    const ownedByA = async () => (await admin.call('key_list', {})).structuredContent.keys.filter((k) => k.owner === a.id);
    const quotaError = (r) => {
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, /quota: this key may hold 1000 keys \(with the keys they made\) and holds 1000/);
    };
    try {
      const sub = (await ca.call('key_create', { name: 'sub' })).structuredContent;
      const cs = await wsClient(srv, { key: sub.key });
      let made = 1;
      const mint = async (c, n) => {
        for (let i = 0; i < n; i += 50) {
          const rs = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => c.call('key_create', { name: `k${i + j}` })));
          for (const r of rs) { assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 300)); made++; }
        }
      };
      await mint(ca, 499);
      await mint(cs, 500); // the sub-key's keys are its owner's too
      assert.equal(made, 1000);
      quotaError(await cs.call('key_create', { name: 'one-more' }));
      quotaError(await ca.call('key_create', { name: 'one-more' }));
      // the dialects' api-keys routes make keys through the same check
      const rest = await httpRequest(srv, { path: '/api/auth/api-keys', headers: { Authorization: `Bearer ${a.key}`, 'Content-Type': 'application/json' }, body: { name: 'rest' } });
      assert.ok(rest.status >= 400 && /quota/.test(rest.text), `${rest.status} ${rest.text.slice(0, 300)}`);
      assert.equal((await ownedByA()).length, 1000);
      // another tenant is unaffected
      const rb = await cb.call('key_create', { name: 'b' });
      assert.equal(rb.isError, undefined, JSON.stringify(rb).slice(0, 300));
      // revoking makes room, and making and revoking keys does not grow the store
      for (let i = 0; i < 20; i++) {
        const mine = (await ownedByA()).find((k) => !k.revoked_at && k.id !== sub.id);
        assert.equal((await ca.call('key_revoke', { id: mine.id })).isError, undefined);
        const r = await ca.call('key_create', { name: `again${i}` });
        assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 300));
        const owned = await ownedByA();
        assert.equal(owned.length, 1000, 'revoked keys are dropped when the owner is full');
        assert.ok(!owned.some((k) => k.revoked_at), 'no revoked key of its owner stays');
      }
      await cs.close();
    } finally {
      await ca.close();
      await cb.close();
      await admin.close();
      await srv.close();
    }
  });
});

describe('quotas per key: snapshot disk', () => {
  // the snapshot store had no per-key bound but the count: 1000 snapshots of a 1 GiB workspace of new
  // random data each took a terabyte of the host's disk
  test('a key\'s snapshots hold at most quota.snapshot_disk (apparent sizes, each counted whole); another key is unaffected', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { quota: { snapshot_disk: '3M' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-b' }).key });
    const quotaError = (r, re) => {
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, re);
    };
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      const run = async (c, id, code) => assert.equal((await c.call('execute', { session_id: id, language: 'shell', code })).isError, undefined);
      await run(a, sid, 'head -c 2000000 /dev/urandom > r');
      const first = await a.call('session_snapshot', { session_id: sid });
      assert.equal(first.isError, undefined, JSON.stringify(first).slice(0, 300));
      // the same bytes again: stored once, but each snapshot counts whole (deleting one frees what it counted)
      quotaError(await a.call('session_snapshot', { session_id: sid }),
        /quota: this key may hold 3 MiB of snapshots \(apparent sizes of their files\); it holds 1 MiB and asked for 1 MiB more/);
      // holes count: a sparse file is as big as its apparent size
      await run(a, sid, 'rm r; truncate -s 100M sparse');
      quotaError(await a.call('session_snapshot', { session_id: sid }), /asked for 100 MiB more/);
      assert.equal((await a.call('snapshot_list', {})).structuredContent.snapshots.length, 1, 'refused snapshots are not kept');
      // another tenant is unaffected
      const bs = (await b.call('session_create', {})).structuredContent.session_id;
      await run(b, bs, 'head -c 2000000 /dev/urandom > r');
      assert.equal((await b.call('session_snapshot', { session_id: bs })).isError, undefined);
      // deleting the first makes room
      assert.equal((await a.call('snapshot_delete', { snapshot_id: first.structuredContent.snapshot_id })).isError, undefined);
      await run(a, sid, 'rm sparse; head -c 2500000 /dev/urandom > r');
      const again = await a.call('session_snapshot', { session_id: sid });
      assert.equal(again.isError, undefined, JSON.stringify(again).slice(0, 300));
      // and the next one would pass it again
      quotaError(await a.call('session_snapshot', { session_id: sid }), /quota: this key may hold 3 MiB of snapshots/);
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('quotas per key: output of ended jobs', () => {
  // an ended background job kept its output (up to job_output, 8 MiB) in the server's memory until
  // its session pushed it out: 32 sessions x 16 jobs let one key hold 4 GiB there
  test('a key\'s ended jobs keep at most quota.job_memory of output in memory, its oldest going first; another key is unaffected', { timeout: 90000 }, async () => {
    const srv = await startServe({ config: { quota: { job_memory: '20M' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-b' }).key });
    const job = async (c, sid) => {
      const r = await c.call('execute', { session_id: sid, language: 'shell', code: 'head -c 7000000 /dev/zero | tr "\\0" x', background: true });
      const id = r.structuredContent.job_id;
      const w = await c.call('job_wait', { job_id: id, timeout_s: 30, max_bytes: 16 });
      assert.equal(w.structuredContent.state, 'exited', JSON.stringify(w).slice(0, 300));
      return id;
    };
    try {
      const bs = (await b.call('session_create', {})).structuredContent.session_id;
      const bjob = await job(b, bs);
      // two sessions of one key: the bound is the key's, not a session's
      const s1 = (await a.call('session_create', {})).structuredContent.session_id;
      const s2 = (await a.call('session_create', {})).structuredContent.session_id;
      const ids = [await job(a, s1), await job(a, s2), await job(a, s1)]; // 3 x 7 MB > 20 MiB
      const gone = await a.call('job_status', { job_id: ids[0] });
      assert.equal(gone.isError, true, JSON.stringify(gone).slice(0, 300));
      assert.match(gone.content[0].text, /not found/);
      for (const id of ids.slice(1)) {
        const st = await a.call('job_status', { job_id: id, max_bytes: 16 });
        assert.equal(st.structuredContent?.total_bytes, 7000000, JSON.stringify(st).slice(0, 300));
      }
      const bst = await b.call('job_status', { job_id: bjob, max_bytes: 16 });
      assert.equal(bst.structuredContent?.total_bytes, 7000000, 'another key\'s job is kept');
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('output of running jobs on the host disk', () => {
  // a running job's output went to DATA/executions/<job>.stdout every second by appending, rewritten
  // only once its ring had dropped bytes the file did not hold yet: a job writing a little less than
  // job_output (8 MiB) a second for its hour grew the file to 28 GiB outside every disk quota
  test('a running job\'s output files stay within twice job_output however long it writes; at its end, within job_output', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { pool_size: 0, job_output: '64k' } });
    const c = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-a' }).key });
    try {
      // 16 KiB every half second, 384 KiB in all: never as much in a second as the ring keeps
      const code = 'for i in $(seq 1 24); do yes "line $i" | head -c 16384; sleep 0.5; done; sleep 600';
      const id = (await c.call('execute', { language: 'shell', code, background: true })).structuredContent.job_id;
      const file = path.join(srv.dataDir, 'executions', `${id}.stdout`);
      const size = () => (fs.existsSync(file) ? fs.statSync(file).size : 0);
      let peak = 0;
      const done = await poll(async () => {
        peak = Math.max(peak, size());
        return (await c.call('job_status', { job_id: id, max_bytes: 16 })).structuredContent.total_bytes >= 24 * 16384;
      }, { timeout: 30000, interval: 200 });
      assert.ok(done, 'the job wrote its 384 KiB');
      await sleep(2500); // two more saves
      peak = Math.max(peak, size());
      console.log(`# job output file: peak ${peak} bytes for ${24 * 16384} written, ring 64 KiB`);
      assert.ok(peak <= 2 * 65536, `the output file held ${peak} bytes`);
      assert.match(fs.readFileSync(file, 'utf8').slice(-100), /line 24\n$/, 'the file holds the newest output');
      assert.equal((await c.call('job_cancel', { job_id: id })).isError, undefined);
      assert.ok(await poll(() => size() > 0 && size() <= 65536, { timeout: 5000 }), `at its end: ${size()} bytes`);
    } finally {
      await c.close();
      await srv.close();
    }
  });
});

describe('quotas per key: terminals', () => {
  // each terminal holds its screen (up to 500 x 200 cells, twice) and 1 MiB of output in the server:
  // 8 per session, over 32 sessions, let one key hold 2 GB (measured: 63 MB per session)
  test('a key keeps at most quota.terminals terminals over its sessions; an ended one makes room; another key is unaffected', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { quota: { terminals: 3 } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-b' }).key });
    const open = async (c, sid, command) => {
      const r = await c.call('terminal_open', { session_id: sid, command });
      assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 300));
      return r.structuredContent.terminal_id;
    };
    try {
      const s1 = (await a.call('session_create', {})).structuredContent.session_id;
      const s2 = (await a.call('session_create', {})).structuredContent.session_id;
      const ended = await open(a, s1, 'true');
      await open(a, s1, 'sleep 600');
      await open(a, s2, 'sleep 600');
      assert.ok(await poll(async () => (await a.call('terminal_list', { session_id: s1 })).structuredContent.terminals
        .some((t) => t.terminal_id === ended && t.state === 'exited'), { timeout: 10000 }), 'the first terminal\'s program ended');
      await open(a, s2, 'sleep 600'); // pushes out the ended one, in the other session
      const gone = await a.call('terminal_read', { terminal_id: ended });
      assert.equal(gone.isError, true, JSON.stringify(gone).slice(0, 300));
      const full = await a.call('terminal_open', { session_id: s1, command: 'sleep 600' });
      assert.equal(full.isError, true, JSON.stringify(full).slice(0, 300));
      assert.match(full.content[0].text, /quota: this key may hold 3 terminals and holds 3/);
      const bs = (await b.call('session_create', {})).structuredContent.session_id;
      await open(b, bs, 'sleep 600');
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('the whole server: terminals', () => {
  // each terminal holds its pty's master in the server, and executions were kept within an eighth of
  // RLIMIT_NOFILE but terminals were not counted: many keys' terminals (32 each) could take every fd
  test('terminals of all keys are kept within quota.server_terminals, at most RLIMIT_NOFILE / 16; a closed one makes room', { timeout: 90000 }, async () => {
    // 256 fds: 16 terminals
    const srv = await startServe({ config: { pool_size: 0 }, prefix: ['prlimit', '--nofile=256:256'] });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'tenant-b' }).key });
    const open = async (c, sid) => {
      const r = await c.call('terminal_open', { session_id: sid, command: 'sleep 600' });
      assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 300));
      return r.structuredContent.terminal_id;
    };
    try {
      const bs = (await b.call('session_create', {})).structuredContent.session_id;
      const first = await open(b, bs);
      const sids = [];
      for (let i = 0; i < 2; i++) sids.push((await a.call('session_create', {})).structuredContent.session_id);
      const mine = [];
      for (let i = 0; i < 15; i++) mine.push(await open(a, sids[i % 2]));
      for (const [c, sid] of [[a, sids[1]], [b, bs]]) {
        const full = await c.call('terminal_open', { session_id: sid, command: 'sleep 600' });
        assert.equal(full.isError, true, JSON.stringify(full).slice(0, 300));
        assert.match(full.content[0].text, /the server holds 16 terminals, its maximum \(quota server_terminals/);
      }
      assert.equal((await b.call('terminal_write', { terminal_id: first, data: 'x' })).isError, undefined, 'b\'s terminal still works');
      assert.equal((await a.call('terminal_close', { terminal_id: mine[0] })).isError, undefined);
      await open(b, bs);
      const r = await a.call('execute', { session_id: sids[0], language: 'shell', code: 'echo fine' });
      assert.equal(r.structuredContent?.stdout, 'fine\n', 'executions still run');
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('quotas per key: displays', () => {
  test('a key holds at most quota.displays running displays; screenshot, input and session_create {display} say so', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { quota: { displays: 1 } } });
    const { dataDir } = srv;
    const a = await wsClient(srv, { key: createKey(dataDir, { name: 'viewer-a' }).key });
    try {
      const s1 = (await a.call('session_create', {})).structuredContent.session_id;
      const s2 = (await a.call('session_create', {})).structuredContent.session_id;
      assert.equal((await a.call('screenshot', { session_id: s1 })).isError, undefined);
      assert.equal((await a.call('screenshot', { session_id: s1 })).isError, undefined, 'its own running display needs no new one');
      for (const r of [await a.call('screenshot', { session_id: s2 }),
        await a.call('input', { session_id: s2, actions: [{ type: 'move', x: 1, y: 1 }] }),
        await a.call('session_create', { display: true })]) {
        assert.equal(r.isError, true, JSON.stringify(r).slice(0, 200));
        assert.match(r.content[0].text, /quota: this key may hold 1 displays and holds 1/);
      }
      await a.call('session_destroy', { session_id: s1 });
      assert.equal((await a.call('screenshot', { session_id: s2 })).isError, undefined, 'room again once the first display is gone');
    } finally {
      await a.close();
      await srv.close();
    }
  });
});

describe('quotas per key: disk', () => {
  test('a key whose workspaces take more than quota.disk cannot execute or write until it frees space; another key can', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { quota: { disk: '5M', disk_scan: '1s' } } });
    const { dataDir } = srv;
    const a = await wsClient(srv, { key: createKey(dataDir, { name: 'filler' }).key });
    const b = await wsClient(srv, { key: createKey(dataDir, { name: 'bystander' }).key });
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      assert.equal((await a.call('execute', { session_id: sid, language: 'shell', code: 'head -c 8000000 /dev/urandom > fill.bin' })).isError, undefined);
      await sleep(2500); // measured within disk_scan
      for (const r of [await a.call('execute', { session_id: sid, language: 'shell', code: 'true' }),
        await a.call('file_write', { session_id: sid, path: 'x.txt', content: 'x' })]) {
        assert.equal(r.isError, true, JSON.stringify(r).slice(0, 200));
        assert.match(r.content[0].text, /quota: this key's workspaces take [7-9] MiB of disk; its quota is 5 MiB/);
      }
      assert.equal((await b.call('execute', { language: 'shell', code: 'echo fine' })).structuredContent.stdout, 'fine\n', 'another key is unaffected');
      assert.equal((await a.call('file_delete', { session_id: sid, path: 'fill.bin' })).isError, undefined, 'deleting is always allowed');
      await sleep(2500);
      assert.equal((await a.call('execute', { session_id: sid, language: 'shell', code: 'true' })).isError, undefined, 'room again');
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('quotas per key: disk, while it is being written', () => {
  test('a program writing past the disk quota is killed within quota.disk_scan_busy, not the slow scan; file_write counts at once', { timeout: 90000 }, async () => {
    const srv = await startServe({ config: { quota: { disk: '20M', disk_scan: '10m', disk_scan_busy: '1s' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'writer' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      // 1 MB every 50 ms for up to 60 s: 1.2 GB if nothing stops it
      const t0 = Date.now();
      const r = await a.call('execute', { session_id: sid, language: 'shell', timeout_s: 120,
        code: 'for i in $(seq 1200); do head -c 1000000 /dev/zero >> fill.bin; sleep 0.05; done' });
      const took = Date.now() - t0;
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.equal(r.structuredContent.disk_quota_exceeded, true);
      assert.match(r.content[0].text, /killed: this key's workspaces went over its disk quota of 20 MiB/);
      assert.ok(took < 15000, `killed after ${took} ms`);
      const size = (await a.call('file_list', { session_id: sid })).structuredContent.entries.find((e) => e.name === 'fill.bin').size;
      assert.ok(size > 20e6 && size < 100e6, `the file stopped at ${size} bytes (quota 20 MB + what 1 s of writing adds)`);
      assert.equal((await b.call('execute', { language: 'shell', code: 'echo fine' })).structuredContent.stdout, 'fine\n', 'another key is unaffected');
      assert.equal((await a.call('file_delete', { session_id: sid, path: 'fill.bin' })).isError, undefined);
      assert.equal((await a.call('execute', { session_id: sid, language: 'shell', code: 'true' })).isError, undefined,
        'a deleted file frees its quota at once, not at the next scan');
      // file_write is counted at once: the slow scan (10 min) never runs in this test
      const big = Buffer.alloc(8 << 20, 120).toString('base64');
      const s2 = (await a.call('session_create', {})).structuredContent.session_id;
      assert.equal((await a.call('file_write', { session_id: s2, path: 'a.bin', content: big, encoding: 'base64' })).isError, undefined);
      assert.equal((await a.call('file_write', { session_id: s2, path: 'b.bin', content: big, encoding: 'base64' })).isError, undefined);
      const w = await a.call('file_write', { session_id: s2, path: 'c.bin', content: big, encoding: 'base64' });
      assert.equal(w.isError, true, 'the third 8 MiB write would make 24 MiB of a 20 MiB quota: refused before it is written');
      assert.match(w.content[0].text, /quota: this key's workspaces take 16 MiB of disk; 8388608 bytes more would pass its quota of 20 MiB/);
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});

describe('quotas per key: disk, written by a kernel cell', () => {
  // the scans killed a key's programs only: a kernel cell writing past the quota went on until its timeout
  test('a kernel cell writing past the disk quota is killed with its kernel', { timeout: 90000 }, async () => {
    const srv = await startServe({ config: { quota: { disk: '20M', disk_scan: '10m', disk_scan_busy: '1s' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'cell-writer' }).key });
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      // 1 MB every 50 ms for 20 s: 400 MB if nothing stops it
      const t0 = Date.now();
      const r = await a.call('execute', { session_id: sid, language: 'shell', kernel: true, timeout_s: 120,
        code: 'for i in $(seq 400); do head -c 1000000 /dev/zero >> fill.bin; sleep 0.05; done' });
      const took = Date.now() - t0;
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, /killed: this key's workspaces went over its disk quota of 20 MiB/);
      assert.equal(r.structuredContent.status, 'died');
      assert.ok(took < 15000, `killed after ${took} ms`);
      const size = (await a.call('file_list', { session_id: sid })).structuredContent.entries.find((e) => e.name === 'fill.bin').size;
      assert.ok(size > 20e6 && size < 100e6, `the file stopped at ${size} bytes`);
      assert.equal((await a.call('file_delete', { session_id: sid, path: 'fill.bin' })).isError, undefined);
      const next = await a.call('execute', { session_id: sid, language: 'shell', kernel: true, code: 'echo again' });
      assert.equal(next.isError, undefined, JSON.stringify(next).slice(0, 300));
      assert.equal(next.structuredContent.kernel.started, true, 'a new kernel');
    } finally {
      await a.close();
      await srv.close();
    }
  });
});

describe('connections', () => {
  test('idle connections without a key are capped and timed out; clients with a key keep working, also past the header timeout', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { max_connections: 40, max_unauthenticated: 8, header_timeout: '2s' } });
    const ws = await wsClient(srv);
    const http = await httpClient(srv);	// its GET event stream stays open past the header timeout
    const idle = [];
    try {
      for (let i = 0; i < 30; i++) {
        const s = net.connect(srv.port, '127.0.0.1');
        const rec = { s, closedAt: null };
        s.on('close', () => { rec.closedAt = Date.now(); });
        s.on('error', () => {});
        idle.push(rec);
      }
      await sleep(500);
      const open = idle.filter((r) => r.closedAt === null).length;
      assert.ok(open <= 8, `${open} idle connections without a key held (max_unauthenticated 8)`);
      // admitted clients are unaffected, and a call longer than the header timeout completes
      const long = http.call('execute', { language: 'shell', code: 'sleep 3; echo done' });
      assert.equal((await ws.call('execute', { language: 'shell', code: 'echo ok' })).structuredContent.stdout, 'ok\n');
      assert.equal((await long).structuredContent.stdout, 'done\n');
      // the idle ones never sent headers: gone after the header timeout, and new clients get in again
      await sleep(1000);
      assert.equal(idle.filter((r) => r.closedAt === null).length, 0, 'idle connections are dropped after header_timeout');
      assert.equal((await httpRequest(srv, { method: 'GET', path: '/healthz' })).status, 200);
      assert.equal((await http.call('execute', { language: 'shell', code: 'echo still' })).structuredContent.stdout, 'still\n',
        'the HTTP client (open GET stream, idle beyond the header timeout) still works');
    } finally {
      for (const r of idle) r.s.destroy();
      await ws.close();
      await http.close();
      await srv.close();
    }
  });
});

describe('requests received in pieces', () => {
  test('unfinished request bodies of all clients together are bounded (max_receiving): past it 503, and the budget comes back', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { max_receiving: '8M', max_message: '4M' } });
    const held = [];
    // a POST that announces 3.5 MB and sends 3 MB, then nothing: returns what the server answered, if anything
    const partial = () => new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1');
      const rec = { s, answer: '' };
      s.on('data', (d) => { rec.answer += d; });
      s.on('error', () => {});
      s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${srv.key}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nContent-Length: ${3.5 * 1024 * 1024}\r\n\r\n`);
      s.write(Buffer.alloc(3 * 1024 * 1024, 0x20), () => resolve(rec));
      held.push(rec);
    });
    try {
      // 3 x 3 MB against a budget of 8 MB: the server reads the three at once, so which one crosses
      // the budget is up to it; that one is refused and its bytes are given back, the other two fit
      for (let i = 0; i < 3; i++) await partial();
      for (let i = 0; i < 100 && !held.some((r) => r.answer); i++) await sleep(100);
      await sleep(300);
      const refused = held.filter((r) => r.answer);
      assert.equal(refused.length, 1, `exactly one is refused: ${held.map((r) => JSON.stringify(r.answer.slice(0, 40)))}`);
      assert.match(refused[0].answer, /^HTTP\/1\.1 503/);
      assert.match(refused[0].answer, /receiving too many large requests/);
      // small requests still pass; once the stalled ones are gone the budget is back
      assert.equal((await httpRequest(srv, { method: 'GET', path: '/healthz' })).status, 200);
      for (const r of held) r.s.destroy();
      await sleep(300);
      const hdrs = { Authorization: `Bearer ${srv.key}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
      const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
      const sessionId = (await httpRequest(srv, { headers: hdrs, body: init })).headers['mcp-session-id'];
      assert.ok(sessionId);
      // a 3 MB request (parsed off the loop) fits the budget again
      const big = { jsonrpc: '2.0', id: 2, method: 'ping', params: { _meta: { pad: 'x'.repeat(3 * 1024 * 1024) } } };
      const r = await httpRequest(srv, { headers: { ...hdrs, 'Mcp-Session-Id': sessionId }, body: big });
      assert.equal(r.status, 200, r.text.slice(0, 200));
      assert.match(r.text, /"id":2,"result":\{\}/);
    } finally {
      for (const r of held) r.s.destroy();
      await srv.close();
    }
  });
});

describe('the thread pool, shared fairly', () => {
  // libuv's pool is one queue in front of four threads: a key that asks for many searches at once
  // got all of them ahead of every other key's listings, searches and snapshots
  test('many greps of one key at once do not hold up another key\'s file_list', { timeout: 180000 }, async () => {
    const srv = await startServe({ config: { quota: { executions: 64 } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'pool-a' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'pool-b' }).key });
    try {
      const sa = (await a.call('session_create', {})).structuredContent.session_id;
      const sb = (await b.call('session_create', {})).structuredContent.session_id;
      // about 100 MB of text for a's searches to go through
      const made = await a.call('execute', { session_id: sa, language: 'python', timeout_s: 120, code:
        'import os, base64\nfor i in range(400):\n    open(f"f{i}.txt", "w").write(base64.encodebytes(os.urandom(192 * 1024)).decode())' });
      assert.equal(made.isError, undefined, JSON.stringify(made).slice(0, 300));
      assert.equal((await b.call('file_write', { session_id: sb, path: 'one.txt', content: 'x' })).isError, undefined);
      const one = async () => { const t = Date.now(); await a.call('grep', { session_id: sa, pattern: 'q[0-9]{2}Z[0-9]{2}q' }); return Date.now() - t; };
      const single = await one();
      const t0 = Date.now();
      const greps = Array.from({ length: 16 }, one);
      await sleep(Math.min(1000, single));
      const t = Date.now();
      const list = await b.call('file_list', { session_id: sb });
      const listMs = Date.now() - t;
      assert.equal(list.isError, undefined, JSON.stringify(list).slice(0, 300));
      await Promise.all(greps);
      const allMs = Date.now() - t0;
      console.log(`# pool fairness: b's file_list ${listMs} ms; a's grep alone ${single} ms, 16 at once ${allMs} ms`);
      // behind at most two of a's searches, not sixteen
      assert.ok(listMs < Math.max(3 * single, allMs / 3),
        `b's file_list took ${listMs} ms while a's 16 greps (${single} ms alone) took ${allMs} ms`);
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});
