// State that survives a restart: session records, stopped sessions, start again, kill -9.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeDataDir, startRaw, hostPidsMatching, poll, uniqueSleepSeconds, sleep, IS_ROOT, BIN, cgroupBase } from './helpers.mjs';

async function session(raw, id) {
  const r = await raw.callTool('session_info', { session_id: id }, `info-${Math.random()}`);
  return r.result;
}

describe('restart', () => {
  test('an explicit session outlives the server, stopped, and starts again with its files', async () => {
    const dir = makeDataDir();
    let raw = await startRaw({ dataDir: dir });
    await raw.handshake();
    const c = await raw.callTool('session_create', { name: 'keeper', labels: { team: 'a' } }, 1);
    const id = c.result.structuredContent.session_id;
    await raw.callTool('execute', { language: 'shell', code: 'echo kept > f; mkdir -p d/e; chmod 700 d', session_id: id }, 2);
    await raw.callTool('execute', { language: 'shell', code: 'echo gone > g' }, 3); // the implicit session
    const implicitId = (await raw.callTool('session_info', {}, 4)).result.structuredContent.session_id;
    await raw.close();

    raw = await startRaw({ dataDir: dir });
    after(() => raw.close());
    await raw.handshake();
    const list = (await raw.callTool('session_list', {}, 10)).result.structuredContent.sessions;
    assert.deepEqual(list.map((s) => [s.session_id, s.status, s.name]), [[id, 'stopped', 'keeper']],
      'the explicit session is back, stopped; the implicit one is gone');
    assert.deepEqual(list[0].labels, { team: 'a' });
    assert.ok(!fs.existsSync(path.join(dir, 'workspaces', implicitId)), 'the implicit workspace was deleted');
    // a stopped session its owner uses again starts by itself (one-shot clients: a process per call)
    const cat = await raw.callTool('execute', { language: 'shell', code: 'cat f; stat -c %a d', session_id: id }, 11);
    assert.equal(cat.result.isError, undefined, JSON.stringify(cat.result));
    assert.equal(cat.result.structuredContent.stdout, 'kept\n700\n');
    assert.match(cat.result.content.map((c) => c.text).join('\n'), new RegExp(`session ${id} was stopped; it was started again`),
      'the result says the session was started again');
    const info = await raw.callTool('session_info', { session_id: id }, 12);
    assert.equal(info.result.structuredContent.status, 'running');
    const again1 = await raw.callTool('execute', { language: 'shell', code: 'true', session_id: id }, 13);
    assert.doesNotMatch(again1.result.content.map((c) => c.text).join('\n'), /was stopped/, 'said only when it happened');
    const stop = await raw.callTool('session_stop', { session_id: id }, 14);
    assert.equal(stop.result.structuredContent.status, 'stopped');
    const again = await raw.callTool('session_stop', { session_id: id }, 15);
    assert.equal(again.result.isError, true, 'stopping a stopped session is an error, not a silent no-op');
    assert.match(again.result.content[0].text, /already stopped/);
  });

  test('kill -9 with running sessions: records come back stopped, no process of the old run is left', async () => {
    const dir = makeDataDir();
    const raw = await startRaw({ dataDir: dir });
    await raw.handshake();
    const c = await raw.callTool('session_create', {}, 1);
    const id = c.result.structuredContent.session_id;
    const secs = uniqueSleepSeconds(60);
    raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: `sleep ${secs}`, session_id: id } } });
    await poll(() => hostPidsMatching(`sleep ${secs}`).length > 0, { timeout: 3000 });
    assert.ok(hostPidsMatching(`sleep ${secs}`).length > 0, 'the program runs');
    raw.child.kill('SIGKILL');
    await raw.waitExit(3000);
    const gone = await poll(() => hostPidsMatching(`sleep ${secs}`).length === 0 && hostPidsMatching(dir).length === 0,
      { timeout: 3000 });
    assert.ok(gone, `nothing of the old run survives: ${JSON.stringify(hostPidsMatching(dir))}`);

    const raw2 = await startRaw({ dataDir: dir });
    after(() => raw2.close());
    await raw2.handshake();
    const info = await session(raw2, id);
    assert.ok(info, `session_info answered: ${JSON.stringify(raw2.messages.slice(-3))} ${raw2.stderr()}`);
    assert.equal(info.structuredContent?.status, 'stopped', `a running record became stopped: ${JSON.stringify(info)}`);
    const st = await raw2.callTool('session_start', { session_id: id }, 3);
    assert.equal(st.result.structuredContent?.status, 'running', JSON.stringify(st.result));
    const ok = await raw2.callTool('execute', { language: 'shell', code: 'echo alive', session_id: id }, 4);
    assert.equal(ok.result.structuredContent.stdout, 'alive\n');
    if (IS_ROOT) {
      // cgroups of the killed run are cleaned when the new zygote starts (only empty ones, older than 30 s,
      // so look for the old sandbox's processes instead: none may remain in any mcpbox cgroup)
      // (each sandbox's cgroup is in its key's group: mcpbox/GROUP/ID, mcpbox/ID before groups)
      const base = cgroupBase(raw2.child.pid, 'pids');
      const dirs = [];
      const subdirs = (d) => { try { return fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()); } catch { return []; } };
      for (const g of base ? subdirs(base) : []) {
        dirs.push(`${base}/${g.name}`);
        for (const s of subdirs(`${base}/${g.name}`)) dirs.push(`${base}/${g.name}/${s.name}`);
      }
      assert.ok(dirs.some((d) => d.endsWith(`/${id}`)), `the session's cgroup is found under ${base}`);
      for (const d of dirs) {
        const f = `${d}/cgroup.procs`;
        if (!fs.existsSync(f)) continue;
        const pids = fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean);
        for (const p of pids) {
          let cmd = '';
          try { cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'latin1'); } catch { continue; }
          assert.ok(!cmd.includes(`sleep ${secs}`), 'the old program is in no cgroup');
        }
      }
    }
  });

  test('kill -9 in the middle of a snapshot: the store and the records stay consistent', async () => {
    const dir = makeDataDir();
    const raw = await startRaw({ dataDir: dir });
    await raw.handshake();
    const id = (await raw.callTool('session_create', {}, 1)).result.structuredContent.session_id;
    await raw.callTool('execute', { session_id: id, language: 'shell', code: 'echo v1 > small' }, 2);
    const first = (await raw.callTool('session_snapshot', { session_id: id }, 3)).result.structuredContent.snapshot_id;
    await raw.callTool('execute', { session_id: id, language: 'python', timeout_s: 60, code:
      'import os\nfor i in range(300):\n    open(f"big{i}", "wb").write(os.urandom(200000))' }, 4);
    raw.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'session_snapshot', arguments: { session_id: id } } });
    await sleep(40);
    raw.child.kill('SIGKILL');
    await raw.waitExit(3000);

    const raw2 = await startRaw({ dataDir: dir });
    after(() => raw2.close());
    await raw2.handshake();
    const snaps = (await raw2.callTool('snapshot_list', {}, 10)).result.structuredContent.snapshots;
    assert.ok(snaps.some((x) => x.snapshot_id === first), 'the earlier snapshot is still there');
    // every listed snapshot can be used: a session from each sees its files
    for (const [i, sn] of snaps.entries()) {
      const c = await raw2.callTool('session_create', { snapshot_id: sn.snapshot_id }, 20 + i);
      assert.equal(c.result.isError, undefined, JSON.stringify(c.result));
      const r = await raw2.callTool('execute', { session_id: c.result.structuredContent.session_id, language: 'shell', code: 'cat small' }, 40 + i);
      assert.equal(r.result.structuredContent.stdout, 'v1\n');
    }
    // and snapshots work again
    await raw2.callTool('session_start', { session_id: id }, 60);
    const again = await raw2.callTool('session_snapshot', { session_id: id }, 61);
    assert.ok(again.result.structuredContent?.snapshot_id, JSON.stringify(again.result));
    assert.ok(again.result.structuredContent.files >= 301);
  });

  test('every execution leaves a record and its output on disk', async () => {
    const dir = makeDataDir();
    const raw = await startRaw({ dataDir: dir });
    after(() => raw.close());
    await raw.handshake();
    const r = await raw.callTool('execute', { language: 'python', code: 'print("recorded")' }, 1);
    const eid = r.result.structuredContent.execution_id;
    assert.match(eid, /^exe_[0-9a-f]{16}$/);
    // the file is written beside the answer, not before it: wait for its content, not its existence
    const file = path.join(dir, 'executions', `${eid}.stdout`);
    const read = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null);
    await poll(() => read() === 'recorded\n', { timeout: 5000 });
    assert.equal(read(), 'recorded\n', 'stdout kept in a file');
  });
});

// One-shot clients (the Inspector CLI, mcpc, scripts) start a process per call: session_id carries
// state across them, and -q keeps mcpbox's log out of what they print.
describe('a process per call (MCP Inspector CLI over stdio)', () => {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const INSPECTOR = path.resolve(here, '..', 'node_modules', '.bin', 'mcp-inspector');
  const inspect = (dir, tool, args = {}) => {
    const argv = ['--cli', BIN, 'stdio', '-q', '--data', dir, '--method', 'tools/call', '--tool-name', tool];
    for (const [k, v] of Object.entries(args)) argv.push('--tool-arg', `${k}=${v}`);
    const r = spawnSync(INSPECTOR, argv, { encoding: 'utf8', timeout: 60000, env: { ...process.env, HOME: process.env.HOME || '/tmp' } });
    assert.equal(r.status, 0, `inspector ${tool}: ${r.stderr}`);
    return JSON.parse(r.stdout); // nothing but the result on stdout
  };

  test('session_create in one process, execute and file_read in the next ones: the stopped session starts by itself', { skip: fs.existsSync(INSPECTOR) ? false : 'inspector not installed' }, () => {
    const dir = makeDataDir();
    const sid = inspect(dir, 'session_create').structuredContent.session_id;
    const w = inspect(dir, 'execute', { language: 'shell', code: 'echo kept > f; cat f', session_id: sid });
    assert.equal(w.structuredContent.stdout, 'kept\n');
    assert.match(w.content.map((c) => c.text).join('\n'), /was stopped; it was started again/);
    const r = inspect(dir, 'file_read', { path: 'f', session_id: sid });
    assert.equal(r.isError, undefined, JSON.stringify(r));
    assert.match(r.content[0].text, /kept/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
