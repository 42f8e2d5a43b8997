// The display is hostile input (issue 11 §1): sandbox code puts a fake X server at :0
// (tests/e2e/fixtures/fake_x.py) and kills the real Xvfb, so the next display start talks to it.
// Only the display agent inside the sandbox speaks X; the server must stay up, fail that
// session's display calls within a bounded time, keep serving the other session at its usual
// pace, and leave nothing behind once the session is destroyed.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startClient, bareDataDir, textOf, poll, sleep, REPO, hostPidsMatching, treePidsMatching, stillAlive } from './helpers.mjs';

// names this run's fake X servers (an argument they ignore): other suites may run on the host at once
const RUN_TAG = `run-${process.pid}-${Date.now()}`;
const FAKE = fs.readFileSync(path.join(REPO, 'tests', 'e2e', 'fixtures', 'fake_x.py'), 'utf8');
const SENDFD = fs.readFileSync(path.join(REPO, 'tests', 'e2e', 'fixtures', 'ptrace_sendfd.c'), 'utf8');

function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}
function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '').split(' ');
  return Number(f[11]) + Number(f[12]);	// utime + stime
}

describe('a hostile X server inside the sandbox', () => {
  let srv, other;
  before(async () => {
    // the fake X servers speak only what the agent asks of a bare display
    srv = await startClient({ dataDir: bareDataDir() });
    other = (await srv.call('session_create', {})).structuredContent.session_id;
    const r = await srv.call('screenshot', { session_id: other });
    assert.ok(!r.isError, textOf(r));
    // once through everything an attack uses, so that pools and caches are warm before fds are counted
    const w = (await srv.call('session_create', {})).structuredContent.session_id;
    await srv.call('screenshot', { session_id: w });
    await srv.call('file_write', { session_id: w, path: 'x', content: 'x' });
    await srv.call('execute', { session_id: w, language: 'shell', code: 'true' });
    await srv.call('session_destroy', { session_id: w });
    for (let i = 0; i < 3; i++)
      await otherWorks('warm-up');	// the other session's execute gets its prestarted spare (pipes)
    await sleep(500);
  });
  after(async () => { await srv?.close(); });

  // The other session answers at its usual pace meanwhile.
  async function otherWorks(what) {
    const t0 = Date.now();
    const e = await srv.call('execute', { session_id: other, language: 'shell', code: 'echo alive' });
    assert.equal(e.structuredContent?.stdout, 'alive\n', `${what}: the other session's execute: ${textOf(e)}`);
    const s = await srv.call('screenshot', { session_id: other, format: 'jpeg' });
    assert.ok(!s.isError, `${what}: the other session's screenshot: ${textOf(s)}`);
    const ms = Date.now() - t0;
    assert.ok(ms < 3000, `${what}: the other session took ${ms} ms`);
    return ms;
  }

  // this server's display agents (its process tree): other suites on the host have their own
  const agents = () => treePidsMatching(srv.pid, 'display-agent');

  async function attack(mode) {
    const c = await srv.call('session_create', {});
    const sid = c.structuredContent.session_id;
    const first = await srv.call('screenshot', { session_id: sid });
    assert.ok(!first.isError, `the real display works first: ${textOf(first)}`);
    await srv.call('file_write', { session_id: sid, path: 'fake_x.py', content: FAKE });
    const e = await srv.call('execute', {
      session_id: sid, language: 'shell',
      code: `setsid -f python3 /workspace/fake_x.py ${mode} 1280 800 ${RUN_TAG} >/tmp/fake_x.log 2>&1
             for i in $(seq 200); do [ -e /tmp/fake_x.ready ] && exit 0; sleep 0.05; done; cat /tmp/fake_x.log; exit 1`,
    });
    assert.equal(e.structuredContent?.exit_code, 0, `the fake X server started: ${textOf(e)}`);
    // the display notices that its Xvfb died
    const stopped = await poll(async () => {
      const i = await srv.call('session_info', { session_id: sid });
      return i.structuredContent?.display?.status !== 'running';
    }, { timeout: 10000, interval: 100 });
    assert.ok(stopped, 'the display stopped when its Xvfb was killed');
    return sid;
  }

  async function destroyAndCheck(sid, fdsBefore, agentsBefore) {
    const mine = agents().filter((p) => !agentsBefore.some((b) => b.pid === p.pid && b.start === p.start));
    await srv.call('session_destroy', { session_id: sid });
    // wherever they went (a leaked agent may have left the server's tree)
    const left = () => hostPidsMatching(RUN_TAG).concat(stillAlive(mine));
    const clean = await poll(() => left().length === 0, { timeout: 10000, interval: 100 });
    assert.ok(clean, `processes left: ${JSON.stringify(left())}`);
    const fds = await poll(() => fdCount(srv.pid) <= fdsBefore, { timeout: 5000, interval: 100 });
    assert.ok(fds, `the server holds ${fdCount(srv.pid)} fds, ${fdsBefore} before the attack`);
  }

  for (const [mode, bound, expect] of [
    ['keysyms', 20000, /keyboard map/],
    ['huge', 20000, /65535x65535/],
    ['silent', 25000, /in time/],
    ['mute', 25000, /no answer|in time/],
  ]) {
    test(`${mode}: the screenshot fails for that session alone within ${bound / 1000} s`, async () => {
      const fdsBefore = fdCount(srv.pid), agentsBefore = agents();
      const sid = await attack(mode);
      const t0 = Date.now();
      const pending = srv.call('screenshot', { session_id: sid });
      await otherWorks(`${mode}, during`);
      const r = await pending;
      const took = Date.now() - t0;
      assert.ok(r.isError, `the screenshot through the fake X server failed: ${textOf(r).slice(0, 200)}`);
      assert.match(textOf(r), expect);
      assert.ok(took < bound, `it failed after ${took} ms`);
      if (mode === 'mute') {
        const t1 = Date.now();
        const i = await srv.call('input', { session_id: sid, actions: [{ type: 'click', x: 5, y: 5 }] });
        assert.ok(i.isError, 'input through a mute agent fails');
        assert.ok(Date.now() - t1 < 25000, 'within a bounded time');
      }
      process.kill(srv.pid, 0);	// still up
      await otherWorks(`${mode}, after`);
      await destroyAndCheck(sid, fdsBefore, agentsBefore);
    });
  }

  test('the shared framebuffer: sandbox code can scribble on it but not truncate it; the server stays up', async () => {
    const c = await srv.call('session_create', {});
    const sid = c.structuredContent.session_id;
    const first = await srv.call('screenshot', { session_id: sid });
    assert.ok(!first.isError, textOf(first));
    // Xvfb's framebuffer is the server's buffer (its fd 4): reach it the way an attacker would
    const e = await srv.call('execute', {
      session_id: sid, language: 'python',
      code: `import os
pid = next(p for p in os.listdir('/proc') if p.isdigit() and open('/proc/%s/comm' % p).read().strip() == 'Xvfb')
fd = os.open('/proc/%s/fd/4' % pid, os.O_RDWR)
for size in (0, 4096, 1 << 40):
    try:
        os.ftruncate(fd, size)
        print('resized to', size)
    except OSError as err:
        print('refused', size, err.errno)
os.pwrite(fd, os.urandom(1 << 20), 0)
print('scribbled')`,
    });
    const out = e.structuredContent?.stdout || '';
    assert.doesNotMatch(out, /resized/, `the buffer cannot change size: ${out} ${textOf(e)}`);
    assert.match(out, /scribbled/, textOf(e));
    // pixels are just data: screenshots go on (the agent reports no damage for what it did not draw)
    const again = await srv.call('screenshot', { session_id: sid, format: 'jpeg' });
    assert.ok(!again.isError, textOf(again));
    process.kill(srv.pid, 0);
    await otherWorks('after the scribbling');
    await srv.call('session_destroy', { session_id: sid });
  });

  // Sandbox code can take the agent's end of the channel and speak for it: the server's checks
  // are all that stands between it and a compromised agent. The filter refuses pidfd_getfd, but
  // ptrace stays allowed (same uid): tests/e2e/fixtures/ptrace_sendfd.c, compiled in the
  // sandbox, makes the agent send its fd 3 to the attacker over a Unix socket.
  async function installSendFd(client, sid) {
    await client.call('file_write', { session_id: sid, path: 'ptrace_sendfd.c', content: SENDFD });
    const c = await client.call('execute', { session_id: sid, language: 'shell',
      code: 'cc -O2 -o /workspace/ptrace_sendfd /workspace/ptrace_sendfd.c' });
    assert.equal(c.structuredContent?.exit_code, 0, `the ptrace helper compiles in the sandbox: ${textOf(c)}`);
  }
  // python: the agent's pid (or None) and its channel taken with the helper (or None, why)
  const TAKE_CHANNEL = `import os, socket, subprocess
def agent_pid():
    return next((int(p) for p in os.listdir('/proc') if p.isdigit() and
                 open('/proc/%s/cmdline' % p, 'rb').read().split(b'\\0')[1:2] == [b'display-agent']), None)
def take_channel(pid):
    name = 'steal-%d' % os.getpid()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as r:
        r.bind('\\0' + name)
        p = subprocess.run(['/workspace/ptrace_sendfd', str(pid), '3', name], capture_output=True, text=True)
        if p.returncode:
            return None, p.stderr
        return socket.socket(fileno=socket.recv_fds(r, 1, 1)[1][0]), ''
`;
  const speakAsAgent = (mode) => `${TAKE_CHANNEL}import struct, sys, time
s, why = take_channel(agent_pid())	# the agent's fd 3
if s is None:
    sys.exit('ptrace_sendfd: ' + why)
msg = lambda t, a=0, b=0, c=0, d=0, u=b'': struct.pack('<5I256s', t, a, b, c, d, u)
mode = '${mode}'
if mode == 'garbage':
    s.send(b'\\x02' * 7)
elif mode == 'outside':
    s.send(msg(2, 1, u=struct.pack('<4H', 1200, 700, 200, 200)))
elif mode == 'ready':
    s.send(msg(1, 65535, 65535, 0, 65535 * 4))
elif mode == 'flood':
    s.settimeout(0.05)
    n, end = 0, time.time() + 2
    while time.time() < end:
        try:
            s.send(msg(2, 1, u=struct.pack('<4H', 0, 0, 1280, 800))); n += 1
        except (socket.timeout, BlockingIOError):
            pass
    print('sent', n)
print('done')`;

  for (const [mode, expect] of [['garbage', /message of 7 bytes/], ['outside', /outside the 1280x800 screen/], ['ready', /ready twice|screen 65535x65535/]]) {
    test(`a compromised agent (${mode}): the server stops that display alone and says why`, async () => {
      const fdsBefore = fdCount(srv.pid), agentsBefore = agents();
      const sid = (await srv.call('session_create', {})).structuredContent.session_id;
      assert.ok(!(await srv.call('screenshot', { session_id: sid })).isError);
      await installSendFd(srv, sid);
      const e = await srv.call('execute', { session_id: sid, language: 'python', code: speakAsAgent(mode) });
      assert.match(e.structuredContent?.stdout || '', /done/, textOf(e));
      const stopped = await poll(async () =>
        (await srv.call('session_info', { session_id: sid })).structuredContent?.display?.status === 'stopped',
      { timeout: 5000, interval: 50 });
      assert.ok(stopped, 'the display stopped');
      assert.match(srv.stderr(), expect, 'the log names the broken rule');
      // the next call starts a fresh agent
      const again = await srv.call('screenshot', { session_id: sid });
      assert.ok(!again.isError, textOf(again));
      await otherWorks(`compromised agent, ${mode}`);
      await destroyAndCheck(sid, fdsBefore, agentsBefore);
    });
  }

  // READY and then a broken message at once: the display stops while its first full-screen copy
  // waits for the pool (one pool thread here, held by a long grep); that job, not the stop, must
  // unmap the shared buffer it is about to read.
  test('a compromised agent breaks its channel before the first screen copy ran: the server stays up', { timeout: 120000 }, async () => {
    const one = await startClient({ dataDir: bareDataDir(), env: { UV_THREADPOOL_SIZE: '1' } });
    try {
      const sid = (await one.call('session_create', {})).structuredContent.session_id;
      const made = await one.call('execute', { session_id: sid, language: 'python', timeout_s: 120, code:
        'import os, base64\nfor i in range(300):\n    open(f"f{i}.txt", "w").write(base64.encodebytes(os.urandom(192 * 1024)).decode())' });
      assert.equal(made.isError, undefined, textOf(made));
      await installSendFd(one, sid);
      const racer = `${TAKE_CHANNEL}import struct, sys, time
end = time.time() + 15
s, why = None, 'no display agent'
while s is None and time.time() < end:
    try:
        pid = agent_pid()
    except OSError:
        pid = None
    if pid is None:
        time.sleep(0.001)
        continue
    s, why = take_channel(pid)
if s is None:
    sys.exit('ptrace_sendfd: ' + why)
s.send(struct.pack('<5I256s', 1, 1280, 800, 0, 1280 * 4, b''))
try:
    s.send(b'\\x02' * 7)
except (BrokenPipeError, ConnectionResetError):
    pass  # the server already closed the channel on the READY above (the real agent had sent its own)
print('sent')`;
      const grep = one.call('grep', { session_id: sid, pattern: 'q[0-9]{2}Z[0-9]{2}q' });
      const [e] = await Promise.all([
        one.call('execute', { session_id: sid, language: 'python', code: racer }),
        one.call('screenshot', { session_id: sid }),
      ]);
      assert.match(e.structuredContent?.stdout || '', /sent/, textOf(e));
      await grep;
      process.kill(one.pid, 0);
      // the execute's answer may reach us before the log line the server wrote as it read the channel
      const why = new RegExp(`display of session ${sid}: the display agent misbehaves \\((message of 7 bytes|ready twice)`);
      await poll(() => why.test(one.stderr()), { timeout: 5000, interval: 50 });
      assert.match(one.stderr(), why, `the display stopped for the broken message; the server's log ends:\n${one.stderr().slice(-1500)}`);
      const again = await one.call('screenshot', { session_id: sid });
      assert.ok(!again.isError, textOf(again));
    } finally {
      await one.close();
    }
  });

  test('a compromised agent floods the channel: read at a bounded rate, other sessions unaffected', async (t) => {
    const fdsBefore = fdCount(srv.pid), agentsBefore = agents();
    const sid = (await srv.call('session_create', {})).structuredContent.session_id;
    assert.ok(!(await srv.call('screenshot', { session_id: sid })).isError);
    await installSendFd(srv, sid);
    const c0 = cpuTicks(srv.pid), t0 = Date.now();
    const flood = srv.call('execute', { session_id: sid, language: 'python', code: speakAsAgent('flood') });
    let worst = 0;
    for (let i = 0; i < 3; i++)
      worst = Math.max(worst, await otherWorks('channel flood'));
    const e = await flood;
    const share = (cpuTicks(srv.pid) - c0) / 100 / ((Date.now() - t0) / 1000);
    t.diagnostic(`${(e.structuredContent?.stdout || '').trim().split('\n')[0]} messages in 2 s; server CPU ${Math.round(share * 100)} % of a core; other session ${worst} ms at worst`);
    assert.match(e.structuredContent?.stdout || '', /done/, textOf(e));
    assert.ok(share < 0.8, `the server used ${Math.round(share * 100)} % of a core`);
    await destroyAndCheck(sid, fdsBefore, agentsBefore);
  });

  test('flood: an endless DamageNotify stream costs the server a bounded share of a core', async (t) => {
    const fdsBefore = fdCount(srv.pid), agentsBefore = agents();
    const sid = await attack('flood');
    const r = await srv.call('screenshot', { session_id: sid });
    // the fake answers correctly: the display runs, flooded
    assert.ok(!r.isError, `the flooded display runs: ${textOf(r)}`);
    const t0 = Date.now(), c0 = cpuTicks(srv.pid);
    await sleep(2000);
    const share = (cpuTicks(srv.pid) - c0) / 100 / ((Date.now() - t0) / 1000);
    let worst = 0;
    for (let i = 0; i < 5; i++)
      worst = Math.max(worst, await otherWorks('flood'));
    const again = await srv.call('screenshot', { session_id: sid });
    t.diagnostic(`server CPU under the flood: ${Math.round(share * 100)} % of a core; other session's calls: ${worst} ms at worst`);
    assert.ok(Date.now() - t0 < 20000, 'screenshots of the flooded display end');
    assert.ok(share < 0.6, `the server used ${Math.round(share * 100)} % of a core under the flood (first screenshot: ${r.isError ? textOf(r) : 'ok'}, again: ${again.isError ? textOf(again) : 'ok'})`);
    await destroyAndCheck(sid, fdsBefore, agentsBefore);
  });
});
