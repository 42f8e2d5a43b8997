// A key that makes empty files by the hundred thousand (issue 11, "Hostile sandboxes"): the disk
// quota counted allocated blocks only, so 300k empty files passed a 100 MB quota and one key could
// take the host's inodes. Now each entry counts at least 4 KiB (a quota in bytes bounds entries) and
// quota.inodes caps the entries of a key's workspaces together (sessions/quota.c).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServe, wsClient, createKey, poll } from './helpers.mjs';

// 300,000 empty files as fast as python makes them: nothing stops it but the server
const EMPTY_FILES = 'python3 -c "import os\nos.mkdir(\'many\')\nfor i in range(300000): os.close(os.open(\'many/%d\' % i, os.O_CREAT | os.O_WRONLY))"';
const count = (ws) => fs.readdirSync(path.join(ws, 'many')).length;

async function attack(a, sid) {
  const r = await a.call('execute', { session_id: sid, language: 'shell', timeout_s: 120, code: EMPTY_FILES });
  assert.equal(r.isError, true, `not stopped: ${JSON.stringify(r).slice(0, 300)}`);
  assert.equal(r.structuredContent.disk_quota_exceeded, true, JSON.stringify(r.structuredContent).slice(0, 300));
  return r;
}

describe('quotas per key: entries (inodes)', () => {
  test('empty files count 4 KiB each: 300k of them are stopped by a 100 MiB disk quota', { timeout: 180000 }, async () => {
    const srv = await startServe({ config: { quota: { disk: '100M', disk_scan: '10m', disk_scan_busy: '1s' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'inode-filler' }).key });
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      const r = await attack(a, sid);
      assert.match(r.content[0].text, /killed: this key's workspaces went over its disk quota of 100 MiB/);
      const n = count(path.join(srv.dataDir, 'workspaces', sid));
      assert.ok(n >= 25000 && n < 200000, `${n} empty files made (100 MiB / 4 KiB = 25,600, plus what a second or two adds)`);
      const x = await a.call('execute', { session_id: sid, language: 'shell', code: 'true' });
      assert.equal(x.isError, true);
      assert.match(x.content[0].text, /quota: this key's workspaces take \d+ MiB of disk; its quota is 100 MiB/);
    } finally {
      await a.close();
      await srv.close();
    }
  });

  test('quota.inodes: a key past its entries cannot execute or write, another key works, all goes with destroy', { timeout: 180000 }, async () => {
    // a disk quota that entries alone never reach (20,000 x 4 KiB = 80 MiB): only quota.inodes stops it
    const srv = await startServe({ config: { quota: { disk: '10G', inodes: 20000, disk_scan: '10m', disk_scan_busy: '1s' } } });
    const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'inode-filler' }).key });
    const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
    try {
      const sid = (await a.call('session_create', {})).structuredContent.session_id;
      const ws = path.join(srv.dataDir, 'workspaces', sid);
      const t0 = Date.now();
      const r = await attack(a, sid);
      const took = Date.now() - t0;
      assert.match(r.content[0].text, /killed: this key's workspaces went over its quota of 20000 files and directories \(quota\.inodes\)/);
      const n = count(ws);
      assert.ok(n >= 20000 && n < 150000, `${n} empty files made (quota.inodes 20,000 plus what a second or two adds)`);
      assert.ok(took < 30000, `killed after ${took} ms`);

      // over it: no program, no write, in this session or a new one of the key
      const s2 = (await a.call('session_create', {})).structuredContent.session_id;
      for (const x of [await a.call('execute', { session_id: sid, language: 'shell', code: 'true' }),
        await a.call('execute', { session_id: s2, language: 'shell', code: 'true' }),
        await a.call('file_write', { session_id: s2, path: 'x.txt', content: 'x' })]) {
        assert.equal(x.isError, true, JSON.stringify(x).slice(0, 200));
        assert.match(x.content[0].text, /quota: this key's workspaces hold \d+ files and directories; its quota is 20000 \(quota\.inodes\)/);
      }
      assert.equal((await b.call('execute', { language: 'shell', code: 'touch a b c && ls | wc -l' })).structuredContent.stdout, '3\n',
        'another key is unaffected');

      // deleting is always allowed; once measured again the key works
      assert.equal((await a.call('file_delete', { session_id: sid, path: 'many', recursive: true })).isError, undefined);
      const again = await poll(async () => {
        const x = await a.call('execute', { session_id: sid, language: 'shell', code: 'echo room' });
        return x.isError ? null : x;
      }, { timeout: 10000, interval: 500 });
      assert.equal(again?.structuredContent.stdout, 'room\n', 'room again after the busy scan');

      // a second go is stopped the same way, and destroy removes everything it made
      await attack(a, sid);
      assert.equal((await a.call('session_destroy', { session_id: sid })).isError, undefined);
      assert.ok(await poll(() => !fs.existsSync(ws), { timeout: 30000, interval: 200 }), 'the workspace and its files are removed');
    } finally {
      await a.close();
      await b.close();
      await srv.close();
    }
  });
});
