// A session's own disk limit (session_create {disk_mb}, sessions/quota.c): its programs writing past it
// are killed by the busy scan, file_write past it is refused at once, other sessions of the same key are
// unaffected; AgentBox's resources.storage (003) and SoulBox's disk_limit (004) are that limit.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServe, wsClient, createKey, httpRequest, BIN } from './helpers.mjs';
import { sb } from './soulbox_client.mjs';

const MiB = 1 << 20;
// 1 MB every 50 ms, 100 MB in all if nothing stops it
const SLOW_100MB = 'for i in $(seq 100); do head -c 1000000 /dev/zero >> fill.bin; sleep 0.05; done';
const bytes = (n) => Buffer.alloc(n, 120).toString('base64');

describe('a session\'s disk limit', () => {
  test('disk_mb 20: a program writing 100 MB is killed, file_write past it refused; another session of the key is unaffected', { timeout: 120000 }, async () => {
    // the slow scan never runs here: what stops the writer is the busy scan (1 s)
    const srv = await startServe({ config: { quota: { disk_scan: '10m', disk_scan_busy: '1s' }, limits: { disk: { max: '1G' } } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'writer' }).key });
    try {
      const made = (await a.call('session_create', { disk_mb: 20 })).structuredContent;
      const sid = made.session_id;
      assert.equal(made.limits.disk_mb, 20);
      const free = (await a.call('session_create', {})).structuredContent;
      assert.equal(free.limits.disk_mb, null, 'no limit unless asked (limits.disk has no default)');

      const t0 = Date.now();
      const r = await a.call('execute', { session_id: sid, language: 'shell', timeout_s: 120, code: SLOW_100MB });
      const took = Date.now() - t0;
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.equal(r.structuredContent.disk_limit_exceeded, true, JSON.stringify(r.structuredContent).slice(0, 300));
      assert.equal(r.structuredContent.disk_quota_exceeded, undefined, 'the key is far from its quota');
      assert.match(r.content[0].text, /killed: the session's workspace went over its disk limit of 20 MiB \(disk_mb\)/);
      assert.ok(took < 15000, `killed after ${took} ms`);
      const size = (await a.call('file_list', { session_id: sid })).structuredContent.entries.find((e) => e.name === 'fill.bin').size;
      assert.ok(size > 20e6 && size < 60e6, `the file stopped at ${size} bytes (20 MiB + what about a second of writing adds)`);

      // over it: neither writes nor new programs, each saying which limit
      for (const x of [await a.call('file_write', { session_id: sid, path: 'x.txt', content: 'x' }),
        await a.call('execute', { session_id: sid, language: 'shell', code: 'true' })]) {
        assert.equal(x.isError, true, JSON.stringify(x).slice(0, 200));
        assert.match(x.content[0].text, new RegExp(`disk: session ${sid} may take 20 MiB of disk \\(its disk_mb\\) and its workspace takes \\d+ MiB`));
      }
      // another session of the same key writes 30 MB undisturbed
      const other = await a.call('execute', { session_id: free.session_id, language: 'shell', timeout_s: 60, code: SLOW_100MB.replace('seq 100', 'seq 30') + '; echo done' });
      assert.equal(other.structuredContent.stdout, 'done\n', JSON.stringify(other).slice(0, 300));
      assert.equal((await a.call('file_write', { session_id: free.session_id, path: 'big.bin', content: bytes(30 * MiB), encoding: 'base64' })).isError, undefined);

      // deleting frees at once; then a file_write is counted before it is written
      assert.equal((await a.call('file_delete', { session_id: sid, path: 'fill.bin' })).isError, undefined);
      const big = await a.call('file_write', { session_id: sid, path: 'big.bin', content: bytes(30 * MiB), encoding: 'base64' });
      assert.equal(big.isError, true, 'a 30 MiB write into a 20 MiB session');
      assert.match(big.content[0].text, /session \S+ may take 20 MiB of disk \(its disk_mb\); its workspace takes \d+ MiB, and 31457280 bytes more would pass the limit/);
      assert.equal((await a.call('file_list', { session_id: sid })).structuredContent.entries.some((e) => e.name === 'big.bin'), false, 'nothing was written');
      for (const n of ['a', 'b']) assert.equal((await a.call('file_write', { session_id: sid, path: `${n}.bin`, content: bytes(8 * MiB), encoding: 'base64' })).isError, undefined);
      const third = await a.call('file_write', { session_id: sid, path: 'c.bin', content: bytes(8 * MiB), encoding: 'base64' });
      assert.equal(third.isError, true, 'writes in a row are counted at once: 24 MiB would pass 20');

      // session_update raises it (capped by the config's maximum)
      const up = await a.call('session_update', { session_id: sid, disk_mb: 64 });
      assert.equal(up.structuredContent.limits.disk_mb, 64);
      assert.equal((await a.call('file_write', { session_id: sid, path: 'c.bin', content: bytes(8 * MiB), encoding: 'base64' })).isError, undefined);
      const over = await a.call('session_update', { session_id: sid, disk_mb: 4096 });
      assert.equal(over.isError, true);
      assert.match(over.content[0].text, /disk_mb must be from 1 to 1024 \(the server's maximum, limits\.disk\)/);
      assert.match((await a.call('session_create', { disk_mb: 2048 })).content[0].text, /disk_mb must be from 1 to 1024/);
      assert.equal((await a.call('session_info', { session_id: sid })).structuredContent.limits.disk_mb, 64, 'a refused update changes nothing');
      // a template may carry it; the call's own disk_mb wins
      assert.equal((await a.call('template_create', { name: 'tiny-disk', disk_mb: 30 })).isError, undefined);
      assert.equal((await a.call('session_create', { template: 'tiny-disk' })).structuredContent.limits.disk_mb, 30);
      assert.equal((await a.call('session_create', { template: 'tiny-disk', disk_mb: 40 })).structuredContent.limits.disk_mb, 40);
      assert.equal((await a.call('template_create', { name: 'no-disk', disk_mb: 0 })).isError, true);
      // a background job past the limit is killed too, and its end says why
      const bg = await a.call('execute', { session_id: sid, language: 'shell', background: true, timeout_s: 120, code: SLOW_100MB });
      const jobId = bg.structuredContent.job_id;
      assert.ok(jobId, JSON.stringify(bg).slice(0, 300));
      let end;
      for (let i = 0; i < 10 && !(end && end.structuredContent.running === false); i++)
        end = await a.call('job_wait', { job_id: jobId, timeout_s: 10 });
      assert.equal(end.structuredContent.running, false, JSON.stringify(end).slice(0, 300));
      assert.equal(end.structuredContent.disk_limit_exceeded, true, JSON.stringify(end.structuredContent).slice(0, 300));
      assert.match(end.content[0].text, /went over its disk limit of 64 MiB/);
    } finally {
      await a.close();
      await srv.close();
    }
  });

  test('file_write over a file counts only what it adds: an overwrite near the limit goes through; append, a sparse file and growth past it do not', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { quota: { disk_scan: '10m', disk_scan_busy: '1s' }, limits: { disk: { max: '1G' } } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'writer' }).key });
    try {
      const sid = (await a.call('session_create', { disk_mb: 20 })).structuredContent.session_id;
      const write = (p, n, extra = {}) => a.call('file_write', { session_id: sid, path: p, content: bytes(n), encoding: 'base64', ...extra });
      assert.equal((await write('a.bin', 12 * MiB)).isError, undefined);
      // 12 MiB over the 12 MiB file: the old blocks go as it is truncated (it was 24 MiB > 20 before)
      for (let i = 0; i < 3; i++) {
        const r = await write('a.bin', 12 * MiB);
        assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 300));
      }
      // growing it by 3 MiB fits (15 of 20) ...
      assert.equal((await write('a.bin', 15 * MiB)).isError, undefined);
      // ... by 8 MiB more does not, and the refusal names what it adds
      const grow = await write('a.bin', 23 * MiB);
      assert.equal(grow.isError, true);
      const asked = /may take 20 MiB of disk \(its disk_mb\); its workspace takes \d+ MiB, and (\d+) bytes more/.exec(grow.content[0].text);
      assert.ok(asked && Number(asked[1]) > 0 && Number(asked[1]) <= 8 * MiB, grow.content[0].text);
      // appending frees nothing: all of it counts
      const app = await write('a.bin', 6 * MiB, { append: true });
      assert.equal(app.isError, true, 'appending 6 MiB to 15 MiB under 20');
      // a sparse file's size is not space: writing over a 1 GiB hole of no blocks counts in full
      const made = await a.call('execute', { session_id: sid, language: 'shell', code: 'truncate -s 1G sparse.bin && du -k sparse.bin' });
      assert.match(made.structuredContent.stdout, /^0\t/, JSON.stringify(made).slice(0, 300));
      const sparse = await write('sparse.bin', 8 * MiB);
      assert.equal(sparse.isError, true, 'an 8 MiB write over a sparse file, 15 MiB held of 20');
      const list = (await a.call('file_list', { session_id: sid })).structuredContent.entries;
      assert.equal(list.find((e) => e.name === 'a.bin').size, 15 * MiB, 'the refused writes changed nothing');
    } finally {
      await a.close();
      await srv.close();
    }
  });

  test('003 resources.storage and 004 disk_limit are the session\'s disk limit', { timeout: 120000 }, async () => {
    const srv = await startServe({ config: { quota: { disk_scan: '10m', disk_scan_busy: '1s' } } });
    const admin = await wsClient(srv);	// the operator's key sees every session
    try {
      const add = spawnSync(BIN, ['user', 'add', 'alice', '--password-stdin', '--data', srv.dataDir], { input: 'alice-password-1\n', encoding: 'utf8' });
      assert.equal(add.status, 0, add.stderr);
      const ab = (token, method, p, body) => httpRequest(srv, { method, path: p, body, timeout: 60000,
        headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) } });
      const token = (await ab(null, 'POST', '/api/v1/auth/login', { username: 'alice', password: 'alice-password-1' })).json.token;
      const env = await ab(token, 'POST', '/api/v1/environments', { name: 'small', image: 'ubuntu', resources: { cpu: '500m', memory: '256Mi', storage: '20Mi' } });
      assert.equal(env.status, 201, env.text);
      const id = env.json.id;
      assert.equal((await admin.call('session_info', { session_id: id })).structuredContent.limits.disk_mb, 20);
      const killed = await ab(token, 'POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', SLOW_100MB], timeout: 120 });
      assert.equal(killed.status, 200, killed.text);
      assert.equal(killed.json.exit_code, 137, killed.text);
      const refused = await ab(token, 'POST', `/api/v1/environments/${id}/exec`, { command: ['true'] });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.json.error, 'limit exceeded', 'a disk limit is not a rate limit');
      assert.match(refused.json.message, /may take 20 MiB of disk \(its disk_mb\)/);
      const patched = await ab(token, 'PATCH', `/api/v1/environments/${id}`, { resources: { cpu: '500m', memory: '256Mi', storage: '1Gi' } });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.resources.storage, '1Gi');
      assert.equal((await admin.call('session_info', { session_id: id })).structuredContent.limits.disk_mb, 1024);
      assert.equal((await ab(token, 'POST', `/api/v1/environments/${id}/exec`, { command: ['true'] })).status, 200, 'room again');

      const key = createKey(srv.dataDir, { name: 'soul' }).key;
      const made = await sb(srv, key, 'POST', '/api/sandboxes', { name: 'tiny', resources: { disk_limit: '20M' } });
      assert.equal(made.status, 201, made.text);
      const sid = made.json.sandbox_id;
      assert.equal(made.json.resources.disk_limit, '20M');
      assert.equal((await admin.call('session_info', { session_id: sid })).structuredContent.limits.disk_mb, 20);
      const fd = new FormData();
      fd.append('sandbox_id', sid);
      fd.append('file', new Blob([Buffer.alloc(30 * MiB, 1)]), 'big.bin');
      const up = await fetch(`${srv.base}/api/files/upload`, { method: 'POST', body: fd, headers: { 'X-API-Key': key } });
      const upText = await up.text();
      assert.equal(up.status, 403, upText);
      assert.equal(JSON.parse(upText).error.code, 'RESOURCE_LIMIT_EXCEEDED');
      assert.match(JSON.parse(upText).error.message, /may take 20 MiB of disk \(its disk_mb\)/);
      const put = await sb(srv, key, 'PUT', `/api/sandboxes/${sid}`, { resources: { disk_limit: '64M' } });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.json.resources.disk_limit, '64M');
      assert.equal((await sb(srv, key, 'GET', `/api/sandboxes/${sid}`)).json.resources.disk_limit, '64M');
      assert.equal((await admin.call('session_info', { session_id: sid })).structuredContent.limits.disk_mb, 64);
    } finally {
      await admin.close();
      await srv.close();
    }
  });
});
