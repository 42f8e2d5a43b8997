// The shell kernel (execute {kernel: true, language: "shell"}): kernel/wrap_kernel.py, a Jupyter wrapper
// kernel on ipykernel, eval'ing cells in one bash (kernel/shell_driver.sh) inside the session's sandbox, so
// the directory, variables and functions persist; driven through the official SDK client over stdio.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startClient, textOf, treePidsMatching, poll, makeDataDir } from './helpers.mjs';

let srv;
let sid;
before(async () => {
  const dataDir = makeDataDir();
  // no kernels started ahead: the process counts below are the sessions' own
  fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ pool_kernels: false }));
  srv = await startClient({ dataDir });
  await srv.client.listTools();
  sid = (await srv.call('session_create', {})).structuredContent.session_id;
});
after(async () => { await srv?.close(); });

const sh = (code, extra = {}) => srv.call('execute', { language: 'shell', kernel: true, code, session_id: sid, ...extra });
function ok(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
  return r.structuredContent;
}
const shells = () => treePidsMatching(srv.pid, 'shell_driver.sh').filter((p) => p.cmd.startsWith('/bin/bash'));

describe('the shell kernel', () => {
  test('the directory, exported variables and functions persist between calls', async () => {
    const first = ok(await sh('mkdir -p sub && cd sub && export GREETING=hello\nsay() { echo "$GREETING, $1"; }\npwd'));
    assert.equal(first.stdout, '/workspace/sub\n');
    assert.equal(first.kernel.language, 'shell');
    assert.match(first.kernel.implementation, /mcpbox-shell 1, bash 5/);
    const second = await sh('pwd; say world; printenv GREETING', { language: 'bash' });
    assert.equal(ok(second).stdout, '/workspace/sub\nhello, world\nhello\n');
    assert.equal(second.structuredContent.kernel.started, false, 'bash is another name for it: the same kernel');
  });

  test('a failing last command is isError with its status; stderr comes back', async () => {
    const r = await sh('ls /nonexistent');
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.error.ename, 'ExitStatus');
    assert.equal(r.structuredContent.error.evalue, 'the last command exited with status 2');
    assert.match(r.structuredContent.stderr, /No such file or directory/);
    assert.equal(ok(await sh('true')).status, 'ok');
  });

  test('a timeout ends the cell, not the shell: the rest of the cell does not run, twice in a row', async () => {
    const slept = await sh('sleep 30; echo after', { timeout_s: 1 });
    assert.equal(slept.structuredContent.timed_out, true);
    assert.equal(slept.structuredContent.error.ename, 'KeyboardInterrupt');
    assert.doesNotMatch(slept.structuredContent.stdout, /after/, 'the command after the interrupted one did not run');
    // a builtin loop (bash itself busy), after an interrupt already ended a cell
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const loop = await sh('while :; do :; done', { timeout_s: 1 });
      assert.match(textOf(loop), /timed out after 1 s: interrupted; the kernel keeps its state/);
      assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms (the 3 s grace would kill the kernel)`);
    }
    const r = ok(await sh('pwd; echo $GREETING'));
    assert.equal(r.stdout, '/workspace/sub\nhello\n');
    assert.equal(r.kernel.started, false, 'the same shell');
  });

  test('a background program does not hold the cell', async () => {
    const t0 = Date.now();
    const r = ok(await sh('sleep 100 > /dev/null 2>&1 &\necho started $!'));
    assert.match(r.stdout, /^started \d+\n$/);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  test('exit ends the shell: said at once, and the next cell runs in a new one', async () => {
    const r = await sh('exit 3');
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.error.ename, 'KernelDied');
    assert.match(r.structuredContent.error.evalue, /bash exited \(status 3\)/);
    const next = ok(await sh('pwd; echo "[$GREETING]"'));
    assert.equal(next.stdout, '/workspace\n[]\n', 'a new shell: back in /workspace, the variable gone');
  });

  test('destroying the session leaves no shell kernel process', async () => {
    const s2 = (await srv.call('session_create', {})).structuredContent.session_id;
    ok(await srv.call('execute', { language: 'sh', kernel: true, session_id: s2, code: 'true' }));
    assert.equal(shells().length, 2, JSON.stringify(shells()));
    ok(await srv.call('session_destroy', { session_id: s2 }));
    assert.ok(await poll(() => shells().length === 1, { timeout: 5000 }), JSON.stringify(shells()));
  });
});
