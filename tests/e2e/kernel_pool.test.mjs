// Kernels started ahead in warm-pool sandboxes (config pool_kernels): once kernel cells run on a server, a
// fresh session's first cell finds a kernel already starting or ready in the sandbox it took.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startClient, startServe, httpClient, textOf, makeDataDir, poll, sleep } from './helpers.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.close(); });

async function server(config) {
  const dataDir = makeDataDir();
  if (config) fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify(config));
  const s = await startClient({ dataDir });
  await s.client.listTools();
  servers.push(s);
  return s;
}
const create = async (s, args = {}) => (await s.call('session_create', args)).structuredContent.session_id;
async function cell(s, sid, code) {
  const r = await s.call('execute', { language: 'python', kernel: true, code, session_id: sid });
  assert.ok(!r.isError, textOf(r));
  return r.structuredContent;
}

// Kernel processes in the session's sandbox (its own pid namespace), counted from a shell there.
async function kernelsRunning(s, sid) {
  const r = await s.call('execute', { language: 'shell', session_id: sid,
    code: "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '[k]ernel[.]json' || true" });
  assert.ok(!r.isError, textOf(r));
  return Number(r.structuredContent.stdout.trim());
}
const sessionKernels = async (s, sid) => (await s.call('session_info', { session_id: sid })).structuredContent.kernels;

describe('kernels started ahead in the warm pool', () => {
  test('after a first kernel cell, fresh sessions take a kernel started ahead; another env gets its own', async () => {
    const s = await server();
    const first = await cell(s, await create(s), '1+1');
    assert.equal(first.kernel.started, true, 'no kernel is started ahead before kernels are in use');
    assert.equal(first.kernel.started_ahead, undefined);

    const sid = await create(s);
    const info = (await s.call('session_info', { session_id: sid })).structuredContent;
    assert.equal(info.kernels?.[0]?.started_ahead, true, JSON.stringify(info.kernels));
    const r = await cell(s, sid, 'import os\nopen("made-by-kernel.txt", "w").write("here")\nos.getcwd()');
    assert.equal(r.kernel.started_ahead, true, JSON.stringify(r.kernel));
    assert.equal(r.kernel.started, false);
    assert.equal(r.outputs[0].text, "'/workspace'");
    const f = await s.call('file_read', { session_id: sid, path: 'made-by-kernel.txt' });
    assert.ok(textOf(f).includes('here'), 'the kernel writes the session\'s own workspace: ' + textOf(f));
    const again = (await s.call('session_info', { session_id: sid })).structuredContent;
    assert.equal(again.kernels[0].started_ahead, undefined, 'used now');

    const withEnv = await create(s, { env: { MCPBOX_POOL_TEST: 'mine' } });
    const e = await cell(s, withEnv, 'import os\nos.environ.get("MCPBOX_POOL_TEST")');
    assert.equal(e.outputs[0].text, "'mine'", 'the session\'s env reaches its kernel');
    assert.equal(e.kernel.started, true, 'a kernel with that environment was started for it');
  });

  test('pool_kernels: false starts every kernel on its first call', async () => {
    const s = await server({ pool_kernels: false });
    await cell(s, await create(s), '1+1');
    const r = await cell(s, await create(s), '1+1');
    assert.equal(r.kernel.started, true);
    assert.equal(r.kernel.started_ahead, undefined);
  });

  test('a kernel started ahead that its session leaves unused stops after pool_kernel_idle; the next cell starts one', async () => {
    const s = await server({ pool_kernel_idle: '2s' });
    await cell(s, await create(s), '1+1');	// kernels are in use: the pool's sandbox gets one
    await sleep(300);
    const sid = await create(s);
    assert.equal((await sessionKernels(s, sid))?.[0]?.started_ahead, true, 'the session took a kernel started ahead');
    assert.ok(await poll(async () => (await kernelsRunning(s, sid)) === 1, { timeout: 10000, interval: 200 }),
      'its process runs in the session\'s sandbox');
    // unused: 2 s after the take (and within the 1 s sweep) it is stopped, its process gone
    assert.ok(await poll(async () => (await sessionKernels(s, sid)) === undefined, { timeout: 6000, interval: 200 }),
      `still listed: ${JSON.stringify(await sessionKernels(s, sid))}`);
    assert.ok(await poll(async () => (await kernelsRunning(s, sid)) === 0, { timeout: 3000, interval: 200 }),
      'the kernel\'s process is gone');
    const r = await cell(s, sid, 'x = 6 * 7\nx');
    assert.equal(r.outputs[0].text, '42', 'the next cell runs in a kernel started for it');
    assert.equal(r.kernel.started, true);
    assert.equal(r.kernel.started_ahead, undefined);
    assert.equal(r.kernel.previous_died, undefined, 'an unused kernel that stopped is not reported as a death');
    // one the session uses is not stopped by the rule
    await sleep(3000);
    assert.equal((await cell(s, sid, 'x')).outputs[0].text, '42', 'a used kernel keeps running past pool_kernel_idle');
  });

  test('refused cells (bad arguments, no kernel for the language, too much code, no execute right) wake no kernels in the pool', async () => {
    const srv = await startServe();
    servers.push(srv);
    const s = await httpClient(srv);
    servers.push(s);
    const sid = await create(s);
    const reader = (await s.call('key_create', { name: 'reader', permissions: ['sandbox_read'] })).structuredContent;
    assert.ok(reader?.key, 'a key with sandbox_read only');
    const r2 = await httpClient(srv, { key: reader.key });
    servers.push(r2);
    const refused = [
      [s, { language: 'python', kernel: true, code: '1', background: true }, /does not go with kernel/],
      [s, { language: 'ruby', kernel: true, code: '1' }, /no kernel for language ruby/],
      [s, { language: 'python', kernel: true, code: 'x'.repeat((1 << 20) + 1) }, /at most/],
      [s, { language: 'python', kernel: true, code: '1', timeout_s: -5 }, /timeout_s/],
      [r2, { language: 'python', kernel: true, code: '1' }, /permission denied|execute/],
    ];
    for (const [c, args, why] of refused) {
      const r = await c.call('execute', { session_id: sid, ...args });
      assert.equal(r.isError, true, `refused: ${JSON.stringify(args).slice(0, 80)}`);
      assert.match(textOf(r), why);
    }
    await sleep(1500);	// the pool's sandbox is ready: had a refused cell woken the pool, it would have a kernel now
    const fresh = await create(s);
    assert.equal(await sessionKernels(s, fresh), undefined, 'no kernel was started ahead');
    assert.equal(await kernelsRunning(s, fresh), 0);
    // the control: one cell that runs, and the next fresh session finds a kernel started ahead
    await cell(s, sid, '1+1');
    await sleep(300);
    const after = await create(s);
    assert.equal((await sessionKernels(s, after))?.[0]?.started_ahead, true, 'a cell that ran wakes the pool');
  });
});
