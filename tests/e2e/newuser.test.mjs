// What a new user does first, as the README tells them: the commands the serve banner prints work as
// printed, and the obvious first things in a sandbox (pip install) work as in a container.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { BIN, startServe, startClient, httpRequest, httpClient, createKey } from './helpers.mjs';

describe('a new user', () => {
  let srv;
  before(async () => { srv = await startServe(); });
  after(async () => { await srv?.close(); });

  test('the "more keys" command the first start prints makes a key this server accepts', async () => {
    const m = /More keys: (mcpbox key create .*)$/m.exec(srv.stdout);
    assert.ok(m, `the banner names the command: ${srv.stdout}`);
    // run it as printed (only the binary's path and a name filled in), from another directory and with
    // another default data directory, as a user in a second terminal would
    const args = m[1].trim().split(/\s+/).slice(1).map((a) => (a === 'NAME' ? 'second' : a));
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-home-'));
    let r;
    try {
      r = spawnSync(BIN, args, { encoding: 'utf8', cwd: home, timeout: 10000,
        env: { ...process.env, MCPBOX_DATA: path.join(home, 'elsewhere') } });
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
    assert.equal(r.status, 0, r.stderr);
    const key = /mcpbox_\S+/.exec(r.stdout)?.[0];
    assert.ok(key, r.stdout);
    const res = await httpRequest(srv, { headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream' },
    body: { jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'newuser', version: '1' } } } });
    assert.equal(res.status, 200, `the printed command made a key the server knows: ${res.text}`);
  });

  test('AgentBox attach: when the shell exits the server closes the WebSocket cleanly (1000, not 1006)', async () => {
    const res = await httpRequest(srv, { path: '/api/v1/environments', headers: { Authorization: `Bearer ${srv.key}`,
      'Content-Type': 'application/json' },
    body: { name: 'attach', image: 'python:3.11-slim', resources: { cpu: '1', memory: '512Mi', storage: '1Gi' } } });
    assert.equal(res.status, 201, res.text);
    const url = `${srv.base.replace(/^http/, 'ws')}/api/v1/environments/${res.json.id}/attach`;
    const got = await new Promise((resolve, reject) => {
      const frames = [];
      const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${srv.key}` } });
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no close: ${JSON.stringify(frames)}`)); }, 15000);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'stdin', data: 'exit 3\n' })));
      ws.on('message', (m) => frames.push(JSON.parse(m.toString())));
      ws.on('close', (code) => { clearTimeout(timer); resolve({ code, frames }); });
      ws.on('error', () => {});
    });
    assert.equal(got.frames.at(-1)?.type, 'exit', JSON.stringify(got.frames));
    assert.equal(got.frames.at(-1)?.exit_code, 3);
    assert.equal(got.code, 1000, 'a close frame, so a browser sees wasClean and no error');
  });
});

describe('a new administrator (serve --admin-user)', () => {
  let srv;
  before(async () => { srv = await startServe({ extraArgs: ['--admin-user', 'boss'] }); });
  after(async () => { await srv?.close(); });

  test('the password change command the first start prints works on this server', async () => {
    const m = /change it with (mcpbox user passwd .*)$/m.exec(srv.stdout);
    assert.ok(m, srv.stdout);
    const args = m[1].trim().split(/\s+/).slice(1);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-home-'));
    let r;
    try {
      r = spawnSync(BIN, args, { encoding: 'utf8', cwd: home, timeout: 10000, input: 'a new password 42\n',
        env: { ...process.env, MCPBOX_DATA: path.join(home, 'elsewhere') } });
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
    assert.equal(r.status, 0, r.stderr);
    const res = await httpRequest(srv, { path: '/auth/login', headers: { 'Content-Type': 'application/json' },
      body: { username: 'boss', password: 'a new password 42' } });
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.access_token);
  });
});

describe('a key at its quota', () => {
  test('the refusal says which quota, with no unrelated "Disk quota exceeded" after it', { timeout: 60000 }, async () => {
    const srv = await startServe({ config: { quota: { sessions: 1 } } });
    const c = await httpClient(srv, { key: createKey(srv.dataDir, { name: 'tenant' }).key });
    try {
      const first = await c.call('session_create', {});
      assert.ok(first.structuredContent?.session_id, JSON.stringify(first));
      const r = await c.call('session_create', {});
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.match(r.content[0].text, /quota: this key may hold 1 sessions and holds 1/);
      assert.doesNotMatch(r.content[0].text, /Disk quota exceeded/);
    } finally {
      await c.close();
      await srv.close();
    }
  });
});

describe('pip in a sandbox', () => {
  let c;
  before(async () => { c = await startClient(); });
  after(async () => { await c?.close(); });

  test('pip install is a user install, not refused as an externally managed environment', { timeout: 60000 }, async () => {
    // pip itself is installed, so this needs no network: "Requirement already satisfied"
    const r = await c.call('execute', { language: 'shell', code: 'pip install --no-index pip 2>&1; echo "rc=$?"' });
    const out = r.structuredContent.stdout;
    assert.doesNotMatch(out, /externally-managed-environment/, out);
    assert.match(out, /Requirement already satisfied: pip/, out);
    assert.match(out, /rc=0/, out);
  });

  test('a command pip installs for the user (~/.local/bin) runs by its name', { timeout: 60000 }, async () => {
    await c.call('file_write', { path: '.local/bin/qa-hello', content: '#!/bin/sh\necho hello from local bin\n' });
    const r = await c.call('execute', { language: 'shell', code: 'chmod +x ~/.local/bin/qa-hello && qa-hello' });
    assert.equal(r.structuredContent.stdout, 'hello from local bin\n', JSON.stringify(r.structuredContent));
  });
});
