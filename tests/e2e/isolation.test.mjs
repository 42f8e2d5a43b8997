// The sandbox boundary, probed from inside with execute.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClient, textOf, exec, TEST_USER, hostPidsMatching, poll, sandboxCgroup } from './helpers.mjs';

const THIS_FILE = fileURLToPath(import.meta.url);

let srv;
before(async () => {
  // a secret in the server's own environment must not reach sandboxed programs
  srv = await startClient({ env: { MCPBOX_E2E_HOST_SECRET: 'host-secret-value' } });
  await srv.client.listTools();
});
after(async () => { await srv?.close(); });

/** Run a python snippet that prints one JSON line; return the parsed object. */
async function py(code, extra = {}) {
  const r = await exec(srv, 'python', `import json, os, sys\n${code}`, extra);
  const line = r.sc.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`python did not print JSON: ${JSON.stringify(r.sc)}`);
  }
}

const PROBE = `
def probe(p, write=False):
    try:
        if write:
            with open(p, "w") as f:
                f.write("x")
            return "WROTE"
        if os.path.isdir(p):
            return sorted(os.listdir(p))
        with open(p, "rb") as f:
            return "READ:" + f.read(64).decode("latin1")
    except Exception as e:
        return type(e).__name__
`;

describe('filesystem', () => {
  test('python3 is /usr/bin/python3 and runs as uid 1000', async () => {
    const r = await exec(srv, 'shell', 'command -v python3; id -u; id -g; ls -l /usr/bin/python3 >/dev/null && echo present');
    assert.equal(r.sc.exit_code, 0, JSON.stringify(r.sc));
    const [where, uid, , present] = r.sc.stdout.trim().split('\n');
    assert.match(where, /python3$/);
    assert.equal(uid, '1000');
    assert.equal(present, 'present');
    const o = await py('print(json.dumps([os.getuid(), os.geteuid()]))');
    assert.deepEqual(o, [1000, 1000]);
  });

  test('host directories are not visible: /root, /home, /work, the data dir', async () => {
    // names that exist on the host and must not be visible inside
    const hostHome = fs.readdirSync('/home');
    const dataDir = srv.dataDir;
    const marker = path.join(dataDir, 'host-only-marker.txt');
    fs.writeFileSync(marker, 'host secret');
    let hostRoot = [];
    try { hostRoot = fs.readdirSync('/root'); } catch { /* not readable as nobody */ }
    const paths = ['/root', '/home', '/work', THIS_FILE, path.dirname(THIS_FILE), dataDir, marker,
      ...hostHome.map((h) => `/home/${h}`), ...hostRoot.slice(0, 5).map((h) => `/root/${h}`)];
    const o = await py(`${PROBE}\nprint(json.dumps({p: probe(p) for p in ${JSON.stringify(paths)}}))`);
    for (const p of [THIS_FILE, marker]) {
      assert.ok(!String(o[p]).startsWith('READ:'), `${p} readable inside: ${o[p]}`);
    }
    for (const p of ['/root', '/home', '/work']) {
      const v = o[p];
      if (Array.isArray(v)) {
        const leaked = v.filter((n) => (p === '/home' ? hostHome : p === '/root' ? hostRoot : ['main', 'shared']).includes(n));
        assert.deepEqual(leaked, [], `host entries of ${p} visible: ${v}`);
      }
    }
    for (const h of hostHome) assert.ok(!Array.isArray(o[`/home/${h}`]), `/home/${h} visible`);
    assert.ok(!Array.isArray(o[path.dirname(THIS_FILE)]), 'tests dir visible');
    assert.ok(!Array.isArray(o[dataDir]) || !o[dataDir].includes('host-only-marker.txt'), 'data dir visible');
  });

  test('cannot write /usr, /etc, /', async () => {
    const o = await py(`${PROBE}\nprint(json.dumps({p: probe(p, True) for p in ["/usr/x-mcpbox", "/etc/x-mcpbox", "/x-mcpbox", "/usr/bin/python3"]}))`);
    for (const [p, v] of Object.entries(o)) assert.notEqual(v, 'WROTE', `${p} writable`);
    assert.ok(!fs.existsSync('/etc/x-mcpbox') && !fs.existsSync('/usr/x-mcpbox'), 'wrote on the host');
  });

  test('/workspace and /tmp are writable', async () => {
    const o = await py(`${PROBE}\nprint(json.dumps([probe("/workspace/w.txt", True), probe("/tmp/t.txt", True)]))`);
    assert.deepEqual(o, ['WROTE', 'WROTE']);
  });
});

describe('environment', () => {
  test("the server's environment does not leak into the sandbox", async () => {
    const r = await exec(srv, 'shell', 'env; cat /proc/1/environ 2>/dev/null | tr "\\0" "\\n"; true');
    assert.ok(!r.sc.stdout.includes('host-secret-value'), 'host environment visible inside');
    assert.ok(!r.sc.stdout.includes('MCPBOX_E2E_HOST_SECRET'), 'host environment visible inside');
  });
});

describe('processes', () => {
  test('only its own few processes are visible', async () => {
    const o = await py(`
pids = [d for d in os.listdir("/proc") if d.isdigit()]
cmds = []
for p in pids:
    try:
        cmds.append(open(f"/proc/{p}/cmdline","rb").read().replace(b"\\0", b" ").decode(errors="replace"))
    except Exception:
        pass
print(json.dumps({"pids": pids, "cmds": cmds}))`);
    assert.ok(o.pids.length >= 1 && o.pids.length <= 8, `sees ${o.pids.length} processes: ${JSON.stringify(o.cmds)}`);
    assert.ok(!o.cmds.some((c) => /\bnode\b|systemd|sshd|containerd|dockerd/.test(c)), `host processes visible: ${JSON.stringify(o.cmds)}`);
    const ps = await exec(srv, 'shell', 'ps -e --no-headers | wc -l');
    assert.ok(Number(ps.sc.stdout.trim()) <= 8, `ps sees ${ps.sc.stdout}`);
  });
});

describe('network', () => {
  test('cannot connect to a TCP server on host 127.0.0.1', async () => {
    let connections = 0;
    const server = net.createServer((s) => { connections++; s.end('hello\n'); });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    try {
      const o = await py(`
import socket
res = None
try:
    s = socket.create_connection(("127.0.0.1", ${port}), timeout=2)
    res = "CONNECTED:" + s.recv(16).decode()
except Exception as e:
    res = type(e).__name__ + ":" + str(e)
print(json.dumps(res))`);
      assert.ok(!o.startsWith('CONNECTED'), `connected to the host: ${o}`);
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  test('no network interfaces but loopback', async () => {
    const o = await py('import socket\nprint(json.dumps([n for _, n in socket.if_nameindex()]))');
    assert.ok(o.every((n) => n === 'lo'), `interfaces: ${o}`);
  });
});

describe('privileges', () => {
  test('cannot mount', async () => {
    const o = await py(`
import ctypes, ctypes.util
libc = ctypes.CDLL(None, use_errno=True)
r = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
print(json.dumps([r, ctypes.get_errno()]))`);
    assert.equal(o[0], -1, `mount returned ${o[0]}`);
    const sh = await exec(srv, 'shell', 'mount -t tmpfs none /tmp 2>&1; echo rc=$?');
    assert.doesNotMatch(sh.sc.stdout, /rc=0/);
  });

  test('cannot unshare', async () => {
    const o = await py(`
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
r = libc.unshare(0x10000000)
print(json.dumps([r, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())]))`);
    assert.deepEqual(o, [-1, 'EPERM']);
    const sh = await exec(srv, 'shell', 'command -v unshare >/dev/null || { echo missing; exit 0; }; unshare -U true; echo rc=$?');
    if (!sh.sc.stdout.includes('missing')) assert.doesNotMatch(sh.sc.stdout, /rc=0/, sh.sc.stdout + sh.sc.stderr);
  });

  test('no effective or permitted capabilities', async () => {
    const o = await py(`
st = open("/proc/self/status").read()
f = {l.split(":")[0]: l.split(":")[1].strip() for l in st.splitlines() if ":" in l}
print(json.dumps([f.get("CapEff"), f.get("CapPrm"), f.get("NoNewPrivs")]))`);
    assert.equal(o[0], '0000000000000000');
    assert.equal(o[1], '0000000000000000');
  });
});

describe('sessions', () => {
  test("another session's workspace is invisible", async () => {
    const a = (await srv.call('session_create', {})).structuredContent.session_id;
    const b = (await srv.call('session_create', {})).structuredContent.session_id;
    try {
      await exec(srv, 'shell', 'echo topsecret > /workspace/a-only.txt; echo $$ > /tmp/a-tmp.txt', { session_id: a });
      const r = await exec(srv, 'shell', 'ls -A /workspace /tmp; cat /workspace/a-only.txt', { session_id: b });
      assert.notEqual(r.sc.exit_code, 0, 'cat of the other session\'s file succeeded');
      assert.ok(!r.sc.stdout.includes('topsecret'), r.sc.stdout);
      assert.ok(!r.sc.stdout.includes('a-tmp.txt'), r.sc.stdout);
      const f = await exec(srv, 'shell', 'find / \\( -path /proc -o -path /sys -o -path /usr \\) -prune -o \\( -name a-only.txt -o -name a-tmp.txt \\) -print 2>/dev/null; true', { session_id: b, timeout_s: 20 });
      assert.equal(f.sc.stdout, '', `found the other session's files: ${f.sc.stdout}`);
    } finally {
      await srv.call('session_destroy', { session_id: a });
      await srv.call('session_destroy', { session_id: b });
    }
  });
});

describe('resource limits', () => {
  let pidLimitSeen = false;
  let bombSession = null;
  let bombResult = null;

  test('pids are limited to limits.max_pids', { timeout: 60000 }, async () => {
    const info = await srv.call('session_info', {});
    const maxPids = info.structuredContent.limits.max_pids;
    assert.ok(maxPids > 0 && maxPids <= 4096, `max_pids ${maxPids}`);
    const r = await exec(srv, 'python', `
import os, time
n = 0
try:
    for i in range(${maxPids} + 50):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        n += 1
except OSError as e:
    print("fork failed", n)
`, { timeout_s: 20 });
    const m = /fork failed (\d+)/.exec(r.sc.stdout);
    assert.ok(m, JSON.stringify(r.sc).slice(0, 500));
    assert.ok(Number(m[1]) <= maxPids, `forked ${m[1]} > max_pids ${maxPids}`);
    pidLimitSeen = true;
  });

  test('fork bomb ends with a clear result; another session stays responsive', { timeout: 90000 }, async () => {
    // never fire a fork bomb at a server that was just seen not to limit pids: it would hit the host
    assert.ok(pidLimitSeen, 'refusing to run the fork bomb: the pid limit test did not pass');
    const bomb = (await srv.call('session_create', {})).structuredContent.session_id;
    const other = (await srv.call('session_create', {})).structuredContent.session_id;
    await exec(srv, 'shell', 'true', { session_id: other });
    try {
      const t0 = Date.now();
      const pending = exec(srv, 'shell', ':(){ :|:& };:', { session_id: bomb, timeout_s: 5 });
      await new Promise((r) => setTimeout(r, 1000));
      const t1 = Date.now();
      const ok = await exec(srv, 'shell', 'echo ok', { session_id: other });
      const okMs = Date.now() - t1;
      assert.equal(ok.sc.stdout, 'ok\n');
      assert.ok(okMs < 2000, `echo ok took ${okMs} ms during the fork bomb`);
      const r = await pending;
      const el = Date.now() - t0;
      assert.ok(r.sc && typeof r.sc.exit_code === 'number', `no structured result: ${JSON.stringify(r).slice(0, 500)}`);
      assert.ok(textOf(r).length > 0);
      assert.ok(el < 30000, `fork bomb result took ${el} ms`);
      bombResult = r.sc;
    } finally {
      bombSession = bomb;
      await srv.call('session_destroy', { session_id: other });
    }
  });

  test('the fork bomb does not outlive its execution (its session recovers)', { timeout: 30000 }, async () => {
    assert.ok(bombSession, 'fork bomb test did not run');
    const bomb = bombSession;
    const r = { sc: bombResult };
    try {
      // the session recovers: nothing of the bomb is left running in it
      let last = null;
      const recovered = await poll(async () => {
        const info = await srv.call('session_info', { session_id: bomb });
        const x = await exec(srv, 'shell', 'echo alive', { session_id: bomb, timeout_s: 5 });
        last = { pids: info.structuredContent?.usage?.pids, echo: x.sc, text: textOf(x).slice(-300) };
        return x.sc?.stdout === 'alive\n' && info.structuredContent?.usage?.pids <= 5;
      }, { timeout: 10000, interval: 500 });
      assert.ok(recovered, `the fork bomb outlived its execution (result ${JSON.stringify(r.sc)}); 10 s later: ${JSON.stringify(last)}`);
    } finally {
      await srv.call('session_destroy', { session_id: bomb });
    }
  });

  test('memory hog', { timeout: 90000 }, async () => {
    const sess = await srv.call('session_create', { memory_mb: 256 });
    assert.ok(!sess.isError, textOf(sess));
    const id = sess.structuredContent.session_id;
    try {
      const code = 'chunks = []\nfor i in range(32):\n    chunks.append(b"x" * (64 << 20))\nprint("allocated 2 GB")\n';
      const r = await exec(srv, 'python', code, { session_id: id, timeout_s: 60 });
      assert.equal(r.isError, true);
      assert.ok(!r.sc.stdout.includes('allocated 2 GB'), 'allocated 2 GB despite memory_mb 256');
      assert.notEqual(r.sc.exit_code, 0);
      if (TEST_USER === 'root') {
        assert.equal(r.sc.oom_killed, true, `expected oom_killed as root: ${JSON.stringify({ ...r.sc, stdout: undefined })}`);
      } else {
        assert.ok(r.sc.oom_killed === true || /MemoryError/.test(r.sc.stderr), `neither OOM kill nor MemoryError: ${JSON.stringify(r.sc)}`);
      }
      if (r.sc.oom_killed) assert.match(textOf(r), /memory|oom|OOM/i);
      assert.ok(r.sc.max_rss_kb <= 300 * 1024, `max_rss_kb ${r.sc.max_rss_kb}`);
    } finally {
      await srv.call('session_destroy', { session_id: id });
    }
  });

  test('/tmp and /dev/shm fill up at a quarter of the memory limit each: ENOSPC, the session lives on', { timeout: 60000 }, async () => {
    const sess = await srv.call('session_create', { memory_mb: 64 });
    assert.ok(!sess.isError, textOf(sess));
    const id = sess.structuredContent.session_id;
    try {
      // both full at once leave half the limit to programs
      const code = 'for f in /tmp/f /dev/shm/f; do dd if=/dev/zero of=$f bs=1M count=256 2>&1 | grep -o "No space left on device"; '
        + 'stat -c %s $f; done; echo alive';
      const r = await exec(srv, 'shell', code, { session_id: id, timeout_s: 30 });
      assert.equal(r.sc.stdout, 'No space left on device\n16777216\nNo space left on device\n16777216\nalive\n', JSON.stringify(r.sc));
      const again = await exec(srv, 'shell', 'df -k /tmp /dev/shm | tail -2 | awk \'{print $2}\'', { session_id: id });
      assert.equal(again.sc.stdout, '16384\n16384\n');
    } finally {
      await srv.call('session_destroy', { session_id: id });
    }
  });

  // Two busy processes for 2 s each: their own CPU time (cpu_ms: the shell's waited-for children)
  // over the wall clock is how many CPUs the session got.
  const BURN = 'for i in 1 2; do timeout 2 sh -c "while :; do :; done" & done; wait';
  async function cpusUsed(sessionId) {
    const r = await exec(srv, 'shell', BURN, { session_id: sessionId, timeout_s: 20 });
    assert.equal(r.sc.exit_code, 0, JSON.stringify(r.sc));
    return r.sc.cpu_ms / r.sc.duration_ms;
  }

  /** The cpu cgroup of session id, where sessions/cgroup.c puts it, and whether it is v1's; null if not there. */
  function cpuCgroup(id) {
    const dir = sandboxCgroup(srv.pid, id, 'cpu');
    return dir ? { dir, v1: !fs.existsSync('/sys/fs/cgroup/cgroup.controllers') } : null;
  }

  /** The CPU quota the kernel holds for session id ("50000 100000"). */
  function cpuQuota(id) {
    const cg = cpuCgroup(id);
    assert.ok(cg, `no cpu cgroup of ${id}`);
    if (!cg.v1) return fs.readFileSync(`${cg.dir}/cpu.max`, 'utf8').trim();
    return ['cpu.cfs_quota_us', 'cpu.cfs_period_us'].map((f) => fs.readFileSync(`${cg.dir}/${f}`, 'utf8').trim()).join(' ');
  }

  /** How many periods the kernel throttled session id's processes for its quota (cpu.stat), or null if unreadable. */
  function cpuThrottled(id) {
    const cg = cpuCgroup(id);
    try {
      const m = /^nr_throttled (\d+)$/m.exec(fs.readFileSync(`${cg.dir}/cpu.stat`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch { return null; }
  }

  test('cpus 0.5: the cgroup quota; two busy processes get at most ~0.6 of a CPU, without a cap more', { timeout: 90000 }, async (t) => {
    const sess = await srv.call('session_create', { cpus: 0.5 });
    if (TEST_USER !== 'root' && sess.isError) {
      // no writable cpu controller here (cgroup v1 as an ordinary user): refused, never ignored
      assert.match(textOf(sess), /cannot limit a session's CPU/);
      return;
    }
    assert.ok(!sess.isError, textOf(sess));
    const id = sess.structuredContent.session_id;
    const free = (await srv.call('session_create', {})).structuredContent.session_id;
    try {
      assert.equal(sess.structuredContent.limits.cpus, 0.5);
      assert.equal((await srv.call('session_info', { session_id: id })).structuredContent.limits.cpus, 0.5);
      assert.equal((await srv.call('session_info', { session_id: free })).structuredContent.limits.cpus, null);
      if (TEST_USER === 'root') {
        assert.equal(cpuQuota(id), '50000 100000');
        assert.match(cpuQuota(free), /^(-1|max) 100000$/);
      }
      // Other work on the host can starve the uncapped run (never lift the cap): a few tries to see it
      // get more than the cap would allow. On a host too busy for that, the kernel's own count of the
      // periods it throttled the capped session (and never the uncapped one) shows the cap at work.
      let capped, uncapped, more = false;
      const throttled0 = [cpuThrottled(id), cpuThrottled(free)];
      for (let i = 0; i < 4 && !more; i++) {
        capped = await cpusUsed(id);
        assert.ok(capped <= 0.6, `cpus 0.5 used ${capped.toFixed(2)} CPUs`);
        uncapped = await cpusUsed(free);
        more = uncapped > 0.65 && uncapped > capped * 1.2;
      }
      const throttled = [cpuThrottled(id) - throttled0[0], cpuThrottled(free) - throttled0[1]];
      const byKernel = throttled0[0] !== null && throttled0[1] !== null && throttled[0] > 0 && throttled[1] === 0;
      assert.ok(more || byKernel,
        `without a cap ${uncapped.toFixed(2)} CPUs, with cpus 0.5 ${capped.toFixed(2)}; periods throttled: capped ${throttled[0]}, ` +
        `uncapped ${throttled[1]} (load ${fs.readFileSync('/proc/loadavg', 'utf8').trim()})`);
      if (!more) t.diagnostic(`host too busy to show the cap by usage (without ${uncapped.toFixed(2)}, with ${capped.toFixed(2)}): the kernel throttled the capped session ${throttled[0]} times`);
    } finally {
      await srv.call('session_destroy', { session_id: id });
      await srv.call('session_destroy', { session_id: free });
    }
  });

  test('cpus: 0, negative, above the host\'s CPUs and non-numbers are refused', async () => {
    const cases = [
      [0, /cpus.*at least 0\.01/], [-1, /cpus.*at least 0\.01/], [0.001, /cpus.*at least 0\.01/],
      [100000, /cpus must be at most \d+ \(the CPUs of this host\)/],
      ['1', /cpus.*must be a number, not a string/], [true, /cpus.*must be a number/], [null, /cpus.*must be a number/],
    ];
    for (const [cpus, re] of cases) {
      const r = await srv.call('session_create', { cpus });
      assert.equal(r.isError, true, `cpus ${JSON.stringify(cpus)} was accepted`);
      assert.match(textOf(r), re, `cpus ${JSON.stringify(cpus)}`);
    }
  });

  test('infinite loop with timeout_s 2 -> timed_out', async () => {
    const t0 = Date.now();
    // the loop says how much CPU it has had so far (every 50 ms of it): a busy host gives it less than
    // the 2 s, but the killed program's cpu_ms must count at least what it last said
    const r = await exec(srv, 'python', `import sys, time
step = 0
while True:
    t = int(time.process_time() * 1000)
    if t >= step + 50:
        step = t
        sys.stdout.write('%d\\n' % t)
        sys.stdout.flush()
`, { timeout_s: 2 });
    const el = Date.now() - t0;
    assert.equal(r.isError, true);
    assert.equal(r.sc.timed_out, true);
    assert.equal(r.sc.signal, 'SIGKILL');
    assert.ok(el >= 1900 && el < 3500, `took ${el} ms`);
    const said = Math.max(0, ...(r.sc.stdout || '').split('\n').filter(Boolean).map(Number));
    assert.ok(said >= 50, `the loop ran: ${JSON.stringify(r.sc.stdout?.slice(-100))}`);
    assert.ok(r.sc.cpu_ms >= said && r.sc.cpu_ms <= el + 500, `cpu_ms ${r.sc.cpu_ms}, the loop had ${said} ms, ${el} ms wall`);
  });

  test('output flood -> truncated', async () => {
    const r = await exec(srv, 'python', 'import sys\nfor i in range(200000):\n    sys.stdout.write("flood line %d\\n" % i)\nsys.stderr.write("E" * 3000000)\n', { timeout_s: 30 });
    assert.equal(r.sc.truncated, true);
    assert.ok(Buffer.byteLength(r.sc.stdout) <= 1024 * 1024);
    assert.ok(Buffer.byteLength(r.sc.stderr) <= 1024 * 1024);
    assert.ok(r.sc.stdout.startsWith('flood line 0\n'));
  });
});
