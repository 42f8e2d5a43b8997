// Concurrency, cancellation and progress.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClient, startRaw, textOf, exec, sleep, poll, hostPidsMatching, uniqueSleepSeconds } from './helpers.mjs';

function killLeftovers(needle) {
  for (const p of hostPidsMatching(needle)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* not ours */ } }
}

describe('a long execution does not block the connection', () => {
  test('ping, tools/list and a short execute stay fast while sleep 30 runs', async () => {
    const srv = await startClient();
    const secs = uniqueSleepSeconds(30);
    const ac = new AbortController();
    try {
      await srv.client.listTools();
      // warm the implicit session first, so the timing below measures blocking, not session start-up
      await exec(srv, 'shell', 'true');
      const long = exec(srv, 'shell', `sleep ${secs}`, {}, { signal: ac.signal }).catch((e) => e);
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'sleep never started');

      let t0 = Date.now();
      await srv.client.ping();
      const pingMs = Date.now() - t0;

      t0 = Date.now();
      const tl = await srv.client.listTools();
      const listMs = Date.now() - t0;
      assert.ok(tl.tools.length >= 9);

      t0 = Date.now();
      const r = await exec(srv, 'shell', 'echo quick');
      const execMs = Date.now() - t0;
      assert.equal(r.sc.stdout, 'quick\n');

      t0 = Date.now();
      const other = await srv.call('session_create', {});
      const r2 = await exec(srv, 'python', 'print("other")', { session_id: other.structuredContent.session_id });
      const otherMs = Date.now() - t0;
      assert.equal(r2.sc.stdout, 'other\n');

      assert.ok(pingMs < 1000, `ping took ${pingMs} ms`);
      assert.ok(listMs < 1000, `tools/list took ${listMs} ms`);
      assert.ok(execMs < 1000, `short execute took ${execMs} ms`);
      assert.ok(otherMs < 2000, `session_create + execute took ${otherMs} ms`);
      ac.abort();
      await long;
    } finally {
      ac.abort();
      await srv.close();
      killLeftovers(`sleep ${secs}`);
    }
  });
});

describe('cancellation', () => {
  test('SDK AbortSignal kills the process (notifications/cancelled)', async () => {
    const srv = await startClient();
    const secs = uniqueSleepSeconds(30);
    const ac = new AbortController();
    try {
      await exec(srv, 'shell', 'true');
      const code = `echo $$ > cancel.pid; sleep ${secs}; echo finished > cancel.done`;
      const long = exec(srv, 'shell', code, {}, { signal: ac.signal }).then((r) => ({ r }), (e) => ({ e }));
      // started: the marker file exists and the sleep is in the host's process table
      const started = await poll(async () => {
        const f = await srv.call('file_read', { path: 'cancel.pid' });
        return !f.isError && hostPidsMatching(`sleep ${secs}`).length > 0;
      }, { timeout: 5000, interval: 50 });
      assert.ok(started, 'the long execution never started');

      ac.abort('test cancels');
      const outcome = await long;
      assert.ok(outcome.e, 'the aborted call must reject on the client side');

      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 400, interval: 10 });
      assert.ok(gone, `still running 400 ms after cancel: ${JSON.stringify(hostPidsMatching(`sleep ${secs}`))}`);

      // and from inside the session: no sleep, no completion marker
      const ps = await exec(srv, 'shell', `ps -eo args | grep -v grep | grep -c "sleep ${secs}" || true; ls`);
      assert.equal(ps.sc.stdout.split('\n')[0], '0', ps.sc.stdout);
      assert.ok(!ps.sc.stdout.includes('cancel.done'));
      // the connection is still healthy
      await srv.client.ping();
    } finally {
      ac.abort();
      await srv.close();
      killLeftovers(`sleep ${secs}`);
    }
  });

  test('raw: notifications/cancelled -> no response for that id, process gone', async () => {
    const raw = await startRaw();
    const secs = uniqueSleepSeconds(30);
    try {
      await raw.handshake();
      raw.send({ jsonrpc: '2.0', id: 'to-cancel', method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: `sleep ${secs}` } } });
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'sleep never started');
      raw.notify('notifications/cancelled', { requestId: 'to-cancel', reason: 'test' });
      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 400, interval: 10 });
      assert.ok(gone, 'process still running 400 ms after notifications/cancelled');
      // cancelling an unknown id is ignored
      raw.notify('notifications/cancelled', { requestId: 'never-existed' });
      raw.notify('notifications/cancelled', { requestId: 12345 });
      const p = await raw.request('ping', undefined, 'after-cancel');
      assert.deepEqual(p.result, {});
      await sleep(700);
      const forIt = raw.messages.filter((m) => (Array.isArray(m) ? m : [m]).some((x) => x && x.id === 'to-cancel'));
      assert.deepEqual(forIt, [], 'a cancelled request must get no response');
      const bogus = raw.messages.filter((m) => m && (m.id === 'never-existed' || m.id === 12345));
      assert.deepEqual(bogus, []);
    } finally {
      await raw.close();
      killLeftovers(`sleep ${secs}`);
    }
  });

  test('raw: cancelling with an integer request id', async () => {
    const raw = await startRaw();
    const secs = uniqueSleepSeconds(30);
    try {
      await raw.handshake();
      raw.send({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'execute', arguments: { language: 'python', code: `import time, os\nos.system("sleep ${secs}")` } } });
      assert.ok(await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 5000 }), 'sleep never started');
      raw.notify('notifications/cancelled', { requestId: 77 });
      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 400, interval: 10 });
      assert.ok(gone, 'child of the cancelled program still running after 400 ms');
      await sleep(500);
      assert.ok(!raw.messages.some((m) => m && m.id === 77), 'no response for a cancelled request');
    } finally {
      await raw.close();
      killLeftovers(`sleep ${secs}`);
    }
  });

  test('raw: a cancel right behind its call still kills a program that has barely started', async () => {
    // The worker does not wait for a new program's execve: the kill may reach it before it has its
    // own process group. Sent in one write, the call and its cancel arrive together, five times over.
    const raw = await startRaw();
    const secs = uniqueSleepSeconds(30);
    try {
      await raw.handshake();
      const warm = await raw.callTool('execute', { language: 'shell', code: 'true' }, 'warm');
      assert.equal(warm.result.structuredContent.exit_code, 0);
      for (let i = 0; i < 5; i++) {
        const id = `c${i}`;
        const call = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: `exec sleep ${secs}` } } };
        const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } };
        raw.child.stdin.write(JSON.stringify(call) + '\n' + JSON.stringify(cancel) + '\n');
      }
      await sleep(1000);
      assert.deepEqual(hostPidsMatching(`sleep ${secs}`), [], 'a cancelled program survived');
      assert.ok(!raw.messages.some((m) => m && typeof m.id === 'string' && m.id.startsWith('c')), 'no response for a cancelled request');
    } finally {
      await raw.close();
      killLeftovers(`sleep ${secs}`);
    }
  });
});

describe('killing', () => {
  test('a timeout kills the whole process tree, background children included', async () => {
    const srv = await startClient();
    const secs = uniqueSleepSeconds(40);
    try {
      const r = await exec(srv, 'shell', `sleep ${secs} & (sleep ${secs} &) ; sleep ${secs}; wait`, { timeout_s: 1 });
      assert.equal(r.sc.timed_out, true, JSON.stringify(r.sc));
      const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0, { timeout: 500, interval: 20 });
      assert.ok(gone, `survivors after the timeout: ${JSON.stringify(hostPidsMatching(`sleep ${secs}`))}`);
    } finally {
      await srv.close();
      killLeftovers(`sleep ${secs}`);
    }
  });
});

describe('progress', () => {
  test('lines printed during a long execution arrive as progress notifications', { timeout: 60000 }, async () => {
    const srv = await startClient();
    try {
      const events = [];
      const code = 'import time\nfor i in range(7):\n    print(f"tick {i}", flush=True)\n    time.sleep(1)\n';
      const r = await srv.client.callTool(
        { name: 'execute', arguments: { language: 'python', code, timeout_s: 30 } },
        undefined,
        { onprogress: (p) => events.push({ ...p, at: Date.now() }), timeout: 60000 },
      );
      assert.ok(!r.isError, textOf(r));
      const printed = r.structuredContent.stdout.split('\n').filter(Boolean);
      assert.equal(printed.length, 7);
      assert.ok(events.length >= 1, 'no progress notification');
      for (let i = 1; i < events.length; i++) {
        assert.ok(events[i].progress > events[i - 1].progress, `progress not strictly increasing: ${JSON.stringify(events.map((e) => e.progress))}`);
      }
      const withMsg = events.filter((e) => typeof e.message === 'string' && printed.includes(e.message.replace(/\r?\n$/, '')));
      assert.ok(withMsg.length >= 1, `no progress message equals a printed line: ${JSON.stringify(events)}`);
      // they must come while it runs, not all at the end
      assert.ok(events[0].at < Date.now() - 2000, 'first progress came only at the end');
    } finally {
      await srv.close();
    }
  });

  test('raw: no progress without a progressToken; token echoed with its type', { timeout: 30000 }, async () => {
    const raw = await startRaw();
    try {
      await raw.handshake();
      const code = 'import time\nfor i in range(3):\n    print(f"p{i}", flush=True)\n    time.sleep(1)\n';
      const mark = raw.messages.length;
      const r1 = await raw.callTool('execute', { language: 'python', code }, 'np');
      assert.ok(r1.result && !r1.result.isError, JSON.stringify(r1));
      const prog1 = raw.messages.slice(mark).filter((m) => m.method === 'notifications/progress');
      assert.deepEqual(prog1, [], 'progress sent without a progressToken');

      const mark2 = raw.messages.length;
      raw.send({ jsonrpc: '2.0', id: 'wp', method: 'tools/call', params: { name: 'execute', arguments: { language: 'python', code }, _meta: { progressToken: 42 } } });
      await raw.response('wp', { timeout: 20000 });
      const prog2 = raw.messages.slice(mark2).filter((m) => m.method === 'notifications/progress');
      assert.ok(prog2.length >= 1, 'no progress with a progressToken');
      for (const p of prog2) assert.equal(p.params.progressToken, 42);
      const iProg = raw.messages.findIndex((m) => m.method === 'notifications/progress' && m.params.progressToken === 42);
      const iResp = raw.messages.findIndex((m) => m.id === 'wp');
      assert.ok(iProg < iResp, 'progress must precede the response');
    } finally {
      await raw.close();
    }
  });
});

describe('batches', () => {
  test('a batch of 3 executes of sleep 1 runs concurrently (< 2.5 s)', async () => {
    const raw = await startRaw();
    try {
      await raw.handshake();
      await raw.callTool('execute', { language: 'shell', code: 'true' }, 'warm'); // implicit session ready
      const mark = raw.messages.length;
      const t0 = Date.now();
      raw.send([1, 2, 3].map((i) => ({ jsonrpc: '2.0', id: `s${i}`, method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: `sleep 1; echo ${i}` } } })));
      const arr = await raw.waitFor((m) => Array.isArray(m), { from: mark, timeout: 10000, what: 'batch response' });
      const el = Date.now() - t0;
      assert.equal(arr.length, 3);
      for (const m of arr) {
        const i = m.id.slice(1);
        assert.equal(m.result?.structuredContent?.stdout, `${i}\n`, JSON.stringify(m));
      }
      assert.ok(el < 2500, `batch took ${el} ms`);
    } finally {
      await raw.close();
    }
  });

  test('many concurrent SDK calls all complete', async () => {
    const srv = await startClient();
    try {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => exec(srv, 'shell', `echo ${i}`)));
      rs.forEach((r, i) => assert.equal(r.sc.stdout, `${i}\n`));
    } finally {
      await srv.close();
    }
  });
});

describe('workspace walks run off the loop', () => {
  test('file_delete of a 100k-file tree: pings stay fast meanwhile', { timeout: 180000 }, async () => {
    const raw = await startRaw();
    after(() => raw.close());
    await raw.handshake();
    const made = await raw.callTool('execute', {
      language: 'shell', timeout_s: 120,
      code: 'mkdir big && cd big && seq 0 99 | xargs mkdir && for d in $(seq 0 99); do (cd $d && seq 1000 | xargs touch); done; find . -type f | wc -l',
    }, 'make', { timeout: 150000 });
    assert.equal(made.result.structuredContent.stdout.trim(), '100000', JSON.stringify(made.result));
    raw.send({ jsonrpc: '2.0', id: 'del', method: 'tools/call', params: { name: 'file_delete', arguments: { path: 'big', recursive: true } } });
    const del = raw.response('del', { timeout: 120000 });
    let done = false;
    del.then(() => { done = true; }, () => { done = true; });
    const lat = [];
    for (let i = 0; !done; i++) {
      const t0 = process.hrtime.bigint();
      await raw.request('ping', undefined, `p${i}`, { timeout: 10000 });
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await sleep(2);
    }
    const r = await del;
    assert.equal(r.result.isError, undefined, JSON.stringify(r.result));
    assert.equal(r.result.structuredContent.deleted, true);
    lat.sort((a, b) => a - b);
    const p99 = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))];
    assert.ok(p99 < 100, `ping p99 ${p99.toFixed(1)} ms, max ${lat[lat.length - 1].toFixed(1)} ms over ${lat.length} pings`);
    const gone = await raw.callTool('execute', { language: 'shell', code: 'ls -A' }, 'ls');
    assert.equal(gone.result.structuredContent.stdout, '', 'the tree is gone and the session works');
  });
});
