// Kernels started ahead in warm-pool sandboxes (config pool_kernels): once kernel cells run on a server, a
// fresh session's first cell finds a kernel already starting or ready in the sandbox it took.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startClient, textOf, makeDataDir } from './helpers.mjs';

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
});
