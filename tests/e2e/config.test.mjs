// Configuration, idle TTL and log notifications, over raw stdio.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, IS_ROOT, RawServer, makeDataDir, startRaw, sleep } from './helpers.mjs';

describe('configuration file', () => {
  test('a bad config stops the server with a message naming the key', () => {
    const dir = makeDataDir();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ limits: { memry: '1G' } }));
    const r = spawnSync(BIN, ['stdio', '--data', dir], { input: '', timeout: 5000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.toString(), /memry/);
    assert.equal(r.stdout.toString(), '', 'nothing on stdout');
  });

  test('limits from the config reach the session', async () => {
    const dir = makeDataDir();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
      limits: { timeout: { default: '7s', max: '9s' }, output: '1k', cpus: { default: 0.25, max: 0.5 } },
    }));
    const raw = await startRaw({ dataDir: dir });
    after(() => raw.close());
    await raw.handshake();
    const info = await raw.callTool('session_info', {}, 1);
    assert.equal(info.result.structuredContent.limits.timeout_s, 7);
    // the default CPU cap holds where a cpu cgroup can keep it (as root here); elsewhere none, with a warning
    if (IS_ROOT) assert.equal(info.result.structuredContent.limits.cpus, 0.25);
    else assert.ok([0.25, null].includes(info.result.structuredContent.limits.cpus));
    const big = await raw.callTool('execute', { language: 'shell', code: 'head -c 5000 /dev/zero | tr "\\0" a' }, 2);
    assert.equal(big.result.structuredContent.truncated, true);
    assert.equal(big.result.structuredContent.stdout.length, 1024);
    const over = await raw.callTool('execute', { language: 'shell', code: 'true', timeout_s: 10 }, 3);
    assert.equal(over.result.isError, true);
    assert.match(over.result.content[0].text, /timeout_s/);
    const create = await raw.callTool('session_create', { timeout_s: 20 }, 4);
    assert.equal(create.result.isError, true, JSON.stringify(create.result));
    assert.match(create.result.content[0].text, /timeout_s/);
    const cpus = await raw.callTool('session_create', { cpus: 0.75 }, 5);
    assert.equal(cpus.result.isError, true, JSON.stringify(cpus.result));
    assert.match(cpus.result.content[0].text, /cpus must be at most 0\.5 \(the server's maximum\)/);
  });
});

describe('idle TTL', () => {
  test('an idle explicit session is destroyed after idle_ttl; the implicit one is not', async () => {
    const dir = makeDataDir();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ idle_ttl: '1s' }));
    const raw = await startRaw({ dataDir: dir });
    after(() => raw.close());
    await raw.handshake();
    const c = await raw.callTool('session_create', {}, 1);
    const id = c.result.structuredContent.session_id;
    await raw.callTool('execute', { language: 'shell', code: 'echo mine > f' }, 2); // implicit session
    // kept alive while used
    for (let i = 0; i < 3; i++) {
      await sleep(400);
      const r = await raw.callTool('execute', { language: 'shell', code: 'true', session_id: id }, 10 + i);
      assert.equal(r.result.isError, undefined, JSON.stringify(r.result));
    }
    await sleep(1800);
    const gone = await raw.callTool('session_info', { session_id: id }, 20);
    assert.equal(gone.result.isError, true);
    assert.match(gone.result.content[0].text, /not found/);
    assert.ok(!fs.existsSync(path.join(dir, 'workspaces', id)), 'workspace removed');
    const still = await raw.callTool('execute', { language: 'shell', code: 'cat f' }, 21);
    assert.equal(still.result.structuredContent.stdout, 'mine\n');
  });
});

describe('log notifications', () => {
  test('notifications/message follow logging/setLevel', async () => {
    const raw = await startRaw();
    after(() => raw.close());
    await raw.handshake();
    await raw.callTool('execute', { language: 'shell', code: 'true' }, 1);
    const before = raw.messages.filter((m) => m.method === 'notifications/message');
    assert.ok(before.some((m) => m.params.level === 'info' && /created session/.test(m.params.data)),
      'info messages are sent by default (the new session)');
    assert.equal(before.filter((m) => m.params.level === 'debug').length, 0, 'nothing below the default level (info)');
    assert.deepEqual((await raw.request('logging/setLevel', { level: 'debug' }, 2)).result, {});
    const from = raw.messages.length;
    await raw.callTool('execute', { language: 'python', code: 'print(1)' }, 3);
    const logs = raw.messages.slice(from).filter((m) => m.method === 'notifications/message');
    assert.ok(logs.length >= 1, 'a debug message about the execution');
    assert.equal(logs[0].params.level, 'debug');
    assert.equal(logs[0].params.logger, 'mcpbox');
    assert.match(logs[0].params.data, /python/);
    await raw.request('logging/setLevel', { level: 'error' }, 4);
    const from2 = raw.messages.length;
    await raw.callTool('session_create', {}, 5);
    assert.equal(raw.messages.slice(from2).filter((m) => m.method === 'notifications/message').length, 0,
      'info messages are not sent at level error');
  });
});

describe('host resources', () => {
  test('the soft limit on open files is raised to the hard limit at start', async () => {
    // started as an editor would, with the usual soft limit of a login shell
    const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn']).stdout.toString().trim());
    const soft = Math.min(256, hard);
    const dir = makeDataDir();
    const child = spawn('prlimit', [`--nofile=${soft}:${hard}`, BIN, 'stdio', '--data', dir],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise((resolve, reject) => { child.once('spawn', resolve); child.once('error', reject); });
    const raw = new RawServer(child, dir, true);
    after(() => raw.close());
    await raw.handshake();
    const limits = fs.readFileSync(`/proc/${child.pid}/limits`, 'utf8');
    const m = limits.match(/^Max open files\s+(\d+)\s+(\d+)/m);
    assert.ok(m, limits);
    assert.equal(Number(m[1]), hard, `soft limit raised from ${soft} (${m[0]})`);
    // programs keep the configured limit (open_files, 1024 by default), not the server's
    const r = await raw.callTool('execute', { language: 'shell', code: 'ulimit -Sn; ulimit -Hn' }, 1);
    assert.equal(r.result.structuredContent.stdout, '1024\n1024\n', JSON.stringify(r.result));
  });
});
