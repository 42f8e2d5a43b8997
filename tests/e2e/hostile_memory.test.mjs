// Memory that no process holds: what a sandbox keeps after its programs are gone (files in its /tmp
// and /dev/shm, System V shared memory, message queues and semaphores). Written as the attacker
// would: fill all of it, then see whether the session's own PID 1 lives, what reached the host, and
// whether another key is unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServe, wsClient, createKey, treePidsMatching, stillAlive, poll, uniqueSleepSeconds, IS_ROOT, UNDER_ASAN } from './helpers.mjs';

/** Resolve within ms or fail. */
function within(ms, what, p) {
  let timer;
  return Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

// Makes System V objects until the kernel (or the filter) refuses, each from a child that exits at
// once (so no rlimit of a process counts them), then fills /tmp and /dev/shm.
const FILL = String.raw`
import ctypes, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
seg = 4 << 20
made = 0
for i in range(64):   # at most 256 MiB
    pid = os.fork()
    if pid == 0:
        sid = libc.shmget(0, ctypes.c_size_t(seg), 0o1600)
        if sid < 0: os._exit(2)
        addr = libc.shmat(sid, None, 0)
        if addr in (None, ctypes.c_void_p(-1).value): os._exit(3)
        ctypes.memset(addr, 1, seg)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    if st != 0: break
    made += 1
q = 0
while q < 1000 and libc.msgget(0, 0o1600) >= 0: q += 1
s = 0
while s < 1000 and libc.semget(0, 250, 0o1600) >= 0: s += 1
for d in ('/tmp', '/dev/shm'):
    subprocess.run('dd if=/dev/zero of=%s/fill bs=1M count=1024 2>/dev/null' % d, shell=True)
print('shm_mb=%d queues=%d sem_sets=%d' % (made * 4, q, s))
`;

test('a sandbox filling /tmp, /dev/shm and System V IPC: its PID 1 lives, the host keeps its memory, another key is unaffected', { timeout: 120000 }, async () => {
  const srv = await startServe();
  const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'attacker' }).key });
  const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
  try {
    const sid = (await a.call('session_create', { memory_mb: 128 })).structuredContent.session_id;
    assert.equal((await a.call('file_write', { session_id: sid, path: 'fill.py', content: FILL })).isError, undefined);
    const r = await a.call('execute', { session_id: sid, language: 'shell', timeout_s: 60,
      code: 'python3 fill.py; df -k /tmp /dev/shm | tail -2 | awk \'{print $3}\'; python3 -c "b = bytearray(8 << 20); print(len(b))"; echo alive' });
    const out = r.structuredContent?.stdout ?? '';
    // before: /tmp and /dev/shm took half the limit each, so both full were all of it, and System V
    // objects had the kernel's defaults (as root, up to the cgroup's limit; unprivileged, gigabytes
    // of the host's memory that no rlimit counts): the OOM killer ended with the worker, PID 1
    assert.match(out, /alive\n$/, 'the session lives: ' + JSON.stringify(r).slice(0, 600));
    assert.match(out, /\n8388608\n/, 'a program still gets memory');
    const m = /shm_mb=(\d+) queues=(\d+) sem_sets=(\d+)/.exec(out);
    const [shm, queues, sems] = m.slice(1).map(Number);
    if (IS_ROOT) {
      // the sandbox's IPC namespace is limited: a quarter of the memory limit, 32 queues, 128 sets
      assert.equal(shm, 32, out);
      assert.equal(queues, 32, out);
      assert.equal(sems, 128, out);
    } else {
      // nothing can bound them (no memory cgroup, and only host root may set the limits): refused
      assert.deepEqual([shm, queues, sems], [0, 0, 0], out);
    }
    assert.deepEqual(out.split('\n').slice(1, 3).map(Number), [32768, 32768], 'a quarter of 128 MiB each: ' + out);
    const secs = uniqueSleepSeconds();
    const again = await a.call('execute', { session_id: sid, language: 'shell', code: `setsid sleep ${secs} >/dev/null 2>&1 < /dev/null & echo still` });
    assert.equal(again.structuredContent?.stdout, 'still\n', JSON.stringify(again).slice(0, 300));
    const left = treePidsMatching(srv.pid, `sleep ${secs}`);
    assert.equal(left.length, 1, 'the sandbox\'s sleeper is found');
    assert.equal((await b.call('execute', { language: 'shell', code: 'echo fine' })).structuredContent.stdout, 'fine\n');
    assert.equal((await a.call('session_destroy', { session_id: sid })).isError, undefined);
    assert.ok(await poll(() => stillAlive(left).length === 0, { timeout: 5000 }), 'the sandbox\'s processes are gone');
  } finally {
    await a.close();
    await b.close();
    await srv.close();
  }
});

test('stdin past what may wait for a program (1 MiB) is refused at once, not held with its execution until the timeout', { timeout: 120000 }, async () => {
  const srv = await startServe();
  const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'attacker' }).key });
  const b = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'bystander' }).key });
  try {
    const sid = (await a.call('session_create', {})).structuredContent.session_id;
    const ok = await a.call('execute', { session_id: sid, language: 'shell', code: 'wc -c', stdin: 'x'.repeat(1 << 20) });
    assert.equal(ok.structuredContent?.stdout, '1048576\n', JSON.stringify(ok).slice(0, 300));
    // before: the stdin was never written (past the queue), the program waited for it until its timeout
    // and the call held the execution, its slot of quota.executions and the message meanwhile
    const calls = [];
    for (let i = 0; i < 8; i++) {
      calls.push(within(5000, 'execute with 2 MB of stdin', a.call('execute', { session_id: sid, language: 'shell', code: 'wc -c',
        stdin: 'y'.repeat(2e6), timeout_s: 60 })));
    }
    calls.push(within(5000, 'a job with 2 MB of stdin', a.call('execute', { session_id: sid, language: 'shell', code: 'wc -c',
      stdin: 'y'.repeat(2e6), background: true })));
    for (const r of await Promise.all(calls)) {
      assert.equal(r.isError, true, JSON.stringify(r).slice(0, 300));
      assert.match(r.content[0].text, /stdin is 2000000 bytes; a program is given at most 1048576/);
    }
    assert.equal((await b.call('execute', { language: 'shell', code: 'echo fine' })).structuredContent.stdout, 'fine\n');
  } finally {
    await a.close();
    await b.close();
    await srv.close();
  }
});

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// make asan's allocator keeps freed memory in its quarantine on purpose: the bound is glibc's
test('what a burst of large requests made the server allocate goes back to the system once they are done', { timeout: 180000, skip: UNDER_ASAN }, async () => {
  const srv = await startServe();
  const a = await wsClient(srv, { key: createKey(srv.dataDir, { name: 'attacker' }).key });
  try {
    const sid = (await a.call('session_create', {})).structuredContent.session_id;
    const base = rssMb(srv.pid);
    // 32 programs at once, each given 30 MB of code (a comment) that the server holds while they run
    const code = 'import time\ntime.sleep(10)\n#' + 'x'.repeat(30e6) + '\n';
    const calls = [];
    for (let i = 0; i < 32; i++) calls.push(a.call('execute', { session_id: sid, language: 'python', code, timeout_s: 60 }, { timeout: 170000 }));
    await Promise.all(calls);
    // before: glibc's mmap threshold had risen to 30 MB, later buffers came from the heap and stayed (1 GB here)
    const after = await poll(() => { const m = rssMb(srv.pid); return m < base + 64 ? m : null; }, { timeout: 5000, interval: 250 });
    assert.ok(after, `the server kept ${rssMb(srv.pid) | 0} MB after the burst (${base | 0} MB before)`);
  } finally {
    await a.close();
    await srv.close();
  }
});
