// Several processes on one data directory (two editors with the same stdio config, an editor and
// `claude mcp list`'s health check): none may break another, and sweeps touch only what dead ones left.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeDataDir, startRaw, poll, sleep } from './helpers.mjs';

let nextId = 1;

/** Calls that use what a process made in the data dir: its warm pool (implicit and explicit sessions), files. */
async function workload(raw, tag, failures) {
  const check = (what, r) => {
    if (r.error || r.result?.isError) failures.push(`${tag} ${what}: ${JSON.stringify(r.error || r.result.content)}`);
    return r.result;
  };
  const out = check('execute', await raw.callTool('execute', { language: 'shell', code: `echo ${tag}` }, nextId++));
  if (out && out.structuredContent?.stdout !== `${tag}\n`) failures.push(`${tag} execute: wrong output ${out.structuredContent?.stdout}`);
  const c = check('session_create', await raw.callTool('session_create', {}, nextId++));
  const sid = c?.structuredContent?.session_id;
  if (!sid) return;
  check('file_write', await raw.callTool('file_write', { session_id: sid, path: 'f.txt', content: tag }, nextId++));
  const rd = check('file_read', await raw.callTool('file_read', { session_id: sid, path: 'f.txt' }, nextId++));
  if (rd && !JSON.stringify(rd.content).includes(tag)) failures.push(`${tag} file_read: ${JSON.stringify(rd.content)}`);
  check('session_destroy', await raw.callTool('session_destroy', { session_id: sid }, nextId++));
}

/** Start a server and keep it busy until stop() is called; resolves the loop's end. */
async function busyServer(dir, tag, failures) {
  const raw = await startRaw({ dataDir: dir });
  await raw.handshake();
  let running = true;
  const loop = (async () => {
    while (running) {
      try { await workload(raw, tag, failures); } catch (e) { failures.push(`${tag}: ${e.message}`); break; }
    }
  })();
  return {
    raw,
    async stop() { running = false; await loop; await raw.close(); },
  };
}

function instanceEntries(dir) {
  try { return fs.readdirSync(path.join(dir, 'instances')).sort(); } catch { return []; }
}

// every order of n items (n <= 3) or n rotations (n > 3)
function orders(n) {
  const idx = [...Array(n).keys()];
  if (n > 3) return idx.map((r) => idx.map((i) => (i + r) % n));
  const out = [];
  const perm = (pre, rest) => {
    if (!rest.length) { out.push(pre); return; }
    rest.forEach((x, i) => perm([...pre, x], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  perm([], idx);
  return out;
}

describe('one data directory, several processes', () => {
  for (const n of [2, 5]) {
    test(`${n} stdio servers started and stopped in every order while each runs calls: no call fails`, async () => {
      const dir = makeDataDir();
      const failures = [];
      const os = orders(n);
      for (let round = 0; round < os.length; round++) {
        const starts = os[round];
        const stops = os[(round + 1) % os.length];
        const servers = [];
        for (const i of starts) {
          servers[i] = await busyServer(dir, `r${round}s${i}`, failures);
          await sleep(30); // let the others run calls while this one starts and sweeps
        }
        await sleep(200);
        for (const i of stops) {
          await servers[i].stop();
          await sleep(30);
        }
        assert.deepEqual(failures, [], `round ${round}: starts ${starts} stops ${stops}`);
      }
      assert.deepEqual(instanceEntries(dir), [], 'every process removed its own instance on exit');
      const ws = fs.readdirSync(path.join(dir, 'workspaces'));
      assert.deepEqual(ws, [], 'no workspace left behind');
      fs.rmSync(dir, { recursive: true, force: true });
    });
  }

  test('kill -9 of one: the next start sweeps only its leftovers, the live one keeps working', async () => {
    const dir = makeDataDir();
    const failures = [];
    const live = await busyServer(dir, 'live', failures);
    const liveInst = instanceEntries(dir);
    assert.equal(liveInst.length, 2, `a lock file and a directory: ${liveInst}`);
    const victim = await startRaw({ dataDir: dir });
    let next = null;
    try {
      await victim.handshake();
      // its warm pool is ready: workspaces only its instance directory names
      await poll(() => instanceEntries(dir).length === 4, { timeout: 3000 });
      const victimInst = instanceEntries(dir).filter((e) => !liveInst.includes(e));
      assert.equal(victimInst.length, 2, `the victim holds a lock file and a directory: ${instanceEntries(dir)}`);
      const victimDir = path.join(dir, 'instances', victimInst.find((e) => !e.endsWith('.lock')));
      await poll(() => fs.readdirSync(victimDir).length > 0, { timeout: 5000 });
      assert.ok(fs.readdirSync(victimDir).every((e) => e.startsWith('ses_')), 'its pool workspaces live in its instance directory');

      victim.child.kill('SIGKILL');
      await victim.waitExit(3000);
      await sleep(100);
      assert.ok(fs.existsSync(victimDir), 'nothing removed it yet');

      next = await busyServer(dir, 'next', failures);
      await poll(() => !fs.existsSync(victimDir), { timeout: 3000 });
      assert.ok(!fs.existsSync(victimDir), 'the next start swept what the dead process left');
      const after = instanceEntries(dir);
      for (const e of liveInst) assert.ok(after.includes(e), `the live process's ${e} is untouched`);
      await sleep(300);
    } finally {
      await victim.close();
      await next?.stop();
      await live.stop();
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(instanceEntries(dir), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
