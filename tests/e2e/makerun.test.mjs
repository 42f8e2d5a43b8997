// The README's first command, as a new user runs it: a fresh clone, `make run` (the target itself,
// with its default ./data), then one execute over Streamable HTTP with the official SDK client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { REPO, TEST_USER, poll } from './helpers.mjs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

// The pass as nobody runs a copy of the tests without the repository (tests/e2e/run.sh).
const hasRepo = fs.existsSync(path.join(REPO, '.git')) && fs.existsSync(path.join(REPO, 'Makefile'));

test('make run from a fresh clone serves a working sandbox', { skip: !hasRepo || TEST_USER === 'nobody' ? 'needs the repository' : false, timeout: 300000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-makerun-'));
  const clone = path.join(dir, 'mcpbox');
  execFileSync('git', ['clone', '--quiet', REPO, clone]);
  // a new process group, so that stopping make stops the server it started
  const make = spawn('make', ['run', 'LISTEN=127.0.0.1:0'], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  make.stdout.on('data', (c) => { out += c; });
  make.stderr.on('data', (c) => { out += c; });
  let client;
  try {
    await poll(() => /serving MCP at http:\/\/[^\s]+\/mcp/.test(out) && /\n    (\S+)\n/.test(out) || make.exitCode !== null,
      { timeout: 240000, interval: 200 });
    const url = out.match(/serving MCP at (http:\/\/[^\s]+\/mcp)/)?.[1];
    const key = out.match(/shown only this once:\n\n    (\S+)\n/)?.[1];
    assert.ok(url && key, `make run printed a URL and a first key:\n${out}`);
    assert.doesNotMatch(out, /warm pool: create sandbox|must be an absolute path/, 'no sandbox failed at start');

    client = new Client({ name: 'makerun-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
    const r = await client.callTool({ name: 'execute', arguments: { language: 'shell', code: 'echo hello from $(pwd)' } });
    assert.equal(r.isError, undefined, JSON.stringify(r));
    assert.equal(r.structuredContent.stdout, 'hello from /workspace\n');
    assert.ok(fs.existsSync(path.join(clone, 'data', 'mcpbox.db')), 'the data went to ./data of the clone');
  } finally {
    await client?.close().catch(() => {});
    try { process.kill(-make.pid, 'SIGTERM'); } catch { /* gone */ }
    await poll(() => make.exitCode !== null || make.signalCode !== null, { timeout: 15000 });
    try { process.kill(-make.pid, 'SIGKILL'); } catch { /* gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
