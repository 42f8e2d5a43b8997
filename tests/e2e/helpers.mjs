// Shared helpers for the mcpbox end-to-end tests.
//
//   MCPBOX_BIN        absolute path of the server binary (default: <repo>/build/mcpbox)
//   MCPBOX_DATA       base directory for data dirs; each server gets a fresh subdirectory
//   MCPBOX_TEST_USER  "root" or "nobody" (what run.sh is running the pass as)
//
// Two ways to talk to the server:
//   startClient()  the official MCP TypeScript SDK client over stdio (what real agents use)
//   startRaw()     the binary spawned directly, newline-delimited JSON written and read by hand,
//                  for what the SDK can't send: batches, odd ids, malformed lines, EOF.
//   startServe()   `mcpbox serve` on 127.0.0.1:0 (URL and first admin key parsed from stdout), with
//                  httpClient()/wsClient() (the SDK's Streamable HTTP and WebSocket transports),
//                  httpRequest() (node:http, any header) and keyCli()/createKey() for `mcpbox key`.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const BIN = process.env.MCPBOX_BIN || path.join(REPO, 'build', 'mcpbox');
export const TEST_USER = process.env.MCPBOX_TEST_USER || (process.getuid() === 0 ? 'root' : 'nobody');
export const IS_ROOT = process.getuid() === 0;
/** Run by make asan: the server is a sanitizer build (slower, and its quarantine keeps freed memory). */
export const UNDER_ASAN = !!process.env.ASAN_OPTIONS;
export const PROTOCOL_LATEST = '2025-11-25';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const MiB = 1 << 20;
export const fmtMiB = (n) => `${(n / MiB).toFixed(1)} MiB`;

function rssAndPeak(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Run fn and return how far process pid's peak RSS (VmHWM, reset first through clear_refs) rose above its RSS before it. */
export async function peakGrowth(pid, fn) {
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* old kernel: HWM since start */ }
  const before = rssAndPeak(pid).rss;
  const out = await fn();
  return { growth: rssAndPeak(pid).hwm - before, out };
}

/** A fresh data directory for one server process. */
export function makeDataDir() {
  const base = process.env.MCPBOX_DATA || os.tmpdir();
  return fs.mkdtempSync(path.join(base, 'e2e-'));
}

/** A data dir whose displays are bare X servers (config display_desktop), for tests that look at
 *  pixels or speak X themselves; desktop.test.mjs tests the standard desktop. */
export function bareDataDir() {
  const dir = makeDataDir();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ display_desktop: 'bare' }));
  return dir;
}

export function rmQuiet(dir) {
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* files owned by the sandbox uid */ }
}

/** Keep the last `max` bytes of a stream, so a failing test can show the server's stderr. */
function tail(stream, max = 16384) {
  const buf = { text: '' };
  stream?.on('data', (c) => {
    buf.text += c.toString();
    if (buf.text.length > max) buf.text = buf.text.slice(-max);
  });
  return buf;
}

// ---------------------------------------------------------------------------------------------
// SDK client

/**
 * Start the server under the SDK client. Returns
 *   { client, transport, dataDir, pid, call(name,args,opts), tool(name,args,opts), stderr(), close() }
 * call() returns the CallToolResult (isError results are returned, not thrown).
 */
export async function startClient({ dataDir, extraArgs = [], env, name = 'mcpbox-e2e' } = {}) {
  const ownDir = !dataDir;
  dataDir = dataDir || makeDataDir();
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['stdio', '--data', dataDir, ...extraArgs],
    stderr: 'pipe',
    env: env ? { ...process.env, ...env } : { ...process.env },
  });
  const errTail = tail(transport.stderr);
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  try {
    await client.connect(transport);
  } catch (e) {
    await transport.close().catch(() => {});
    e.message += `\nserver stderr:\n${errTail.text}`;
    throw e;
  }
  const pid = transport.pid;
  const call = (toolName, args = {}, opts = {}) =>
    client.callTool({ name: toolName, arguments: args }, undefined, { timeout: 120000, ...opts });
  return {
    client,
    transport,
    dataDir,
    pid,
    call,
    stderr: () => errTail.text,
    async close() {
      await client.close().catch(() => {});
      if (ownDir) rmQuiet(dataDir);
    },
  };
}

/** The text of all text content items of a tool result, joined. */
export function textOf(result) {
  return (result?.content || []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

/** Assert a tool result succeeded; returns its structuredContent. */
export function okResult(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
  return r.structuredContent;
}

/** Assert a tool result is an isError whose text mentions each of mentions. */
export function errResult(r, ...mentions) {
  assert.equal(r.isError, true, `expected isError, got ${JSON.stringify(r).slice(0, 400)}`);
  for (const m of mentions) assert.ok(textOf(r).includes(m), `error should mention ${m}: ${textOf(r)}`);
}

/** Run code through execute; returns the result (structuredContent in .sc for brevity). */
export async function exec(srv, language, code, extra = {}, opts = {}) {
  const r = await srv.call('execute', { language, code, ...extra }, opts);
  r.sc = r.structuredContent;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Raw newline-delimited JSON client

export class RawServer {
  constructor(child, dataDir, ownDir) {
    this.child = child;
    this.dataDir = dataDir;
    this.ownDir = ownDir;
    this.lines = [];      // every stdout line, as received
    this.messages = [];   // parsed messages (objects or arrays), in order
    this.badLines = [];   // stdout lines that were not JSON
    this.waiters = [];
    this.exited = null;   // {code, signal, at}
    this.exitWaiters = [];
    this.errTail = tail(child.stderr);
    let pending = '';
    child.stdout.on('data', (chunk) => {
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        this.lines.push(line);
        let msg;
        try { msg = JSON.parse(line); } catch { this.badLines.push(line); continue; }
        this.messages.push(msg);
        this._wake();
      }
    });
    child.stdout.on('end', () => { if (pending.length) { this.lines.push(pending); this.badLines.push(pending); } });
    child.stdin.on('error', () => {});
    child.on('exit', (code, signal) => {
      this.exited = { code, signal, at: Date.now() };
      for (const w of this.exitWaiters) w();
      this.exitWaiters = [];
      this._wake();
    });
  }

  get pid() { return this.child.pid; }
  stderr() { return this.errTail.text; }

  _wake() {
    for (const w of [...this.waiters]) w.check();
  }

  /** Write one message: an object/array is serialised; a string is written as is (+ "\n" unless it ends in one). */
  send(msg) {
    const s = typeof msg === 'string' ? (msg.endsWith('\n') ? msg : msg + '\n') : JSON.stringify(msg) + '\n';
    this.child.stdin.write(s);
  }

  /** Wait for a message (scanning from index `from`) that satisfies pred. */
  waitFor(pred, { timeout = 5000, from = 0, what = 'message' } = {}) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          for (let i = from; i < this.messages.length; i++) {
            if (pred(this.messages[i])) { done(); resolve(this.messages[i]); return; }
          }
          if (this.exited) { done(); reject(new Error(`server exited (${JSON.stringify(this.exited)}) while waiting for ${what}; stderr:\n${this.stderr()}`)); }
        },
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; last messages: ${JSON.stringify(this.messages.slice(-5)).slice(0, 2000)}`));
      }, timeout);
      const done = () => { clearTimeout(timer); this.waiters = this.waiters.filter((x) => x !== w); };
      this.waiters.push(w);
      w.check();
    });
  }

  /** Wait for the response (a non-array message with result or error) carrying exactly this id (same type). */
  response(id, opts = {}) {
    return this.waitFor(
      (m) => !Array.isArray(m) && m && Object.prototype.hasOwnProperty.call(m, 'id') && m.id === id && ('result' in m || 'error' in m),
      { what: `response to id ${JSON.stringify(id)}`, ...opts },
    );
  }

  /** Send a request and wait for its response. */
  async request(method, params, id, opts = {}) {
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    this.send(msg);
    return this.response(id, opts);
  }

  notify(method, params) {
    const msg = { jsonrpc: '2.0', method };
    if (params !== undefined) msg.params = params;
    this.send(msg);
  }

  /** initialize + notifications/initialized. Returns the initialize result. */
  async handshake(protocolVersion = PROTOCOL_LATEST, id = 'init') {
    const r = await this.request('initialize', {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: 'mcpbox-raw-e2e', version: '1.0.0' },
    }, id, { timeout: 10000 });
    if (r.error) throw new Error(`initialize failed: ${JSON.stringify(r.error)}`);
    this.notify('notifications/initialized');
    return r.result;
  }

  /** tools/call helper; returns the JSON-RPC response. */
  callTool(name, args, id, opts = {}) {
    return this.request('tools/call', { name, arguments: args }, id, { timeout: 60000, ...opts });
  }

  endStdin() { this.child.stdin.end(); }

  waitExit(timeout = 5000) {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not exit within ${timeout} ms`)), timeout);
      this.exitWaiters.push(() => { clearTimeout(timer); resolve(this.exited); });
    });
  }

  async close() {
    if (!this.exited) {
      // as the SDK's client closes: stdin's end (calls in flight are finished), SIGTERM, SIGKILL
      this.endStdin();
      try { await this.waitExit(2000); } catch {
        this.child.kill('SIGTERM');
        try { await this.waitExit(2000); } catch { this.child.kill('SIGKILL'); await this.waitExit(3000).catch(() => {}); }
      }
    }
    if (this.ownDir) rmQuiet(this.dataDir);
  }
}

/** Spawn the binary directly: `BIN stdio --data DIR` (bin: another copy of it). */
export async function startRaw({ dataDir, extraArgs = [], bin = BIN } = {}) {
  const ownDir = !dataDir;
  dataDir = dataDir || makeDataDir();
  const child = spawn(bin, ['stdio', '--data', dataDir, ...extraArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return new RawServer(child, dataDir, ownDir);
}

// ---------------------------------------------------------------------------------------------
// Host-side process inspection

/** Host pids whose command line contains `needle` (reads /proc; works as root and as nobody without hidepid). */
export function hostPidsMatching(needle) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try { cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').replace(/\0/g, ' '); } catch { continue; }
    if (cmd.includes(needle) && Number(d) !== process.pid) {
      // skip zombies: they are gone but not yet reaped
      let state = '';
      try { state = fs.readFileSync(`/proc/${d}/stat`, 'latin1').replace(/^.*\) /, '')[0]; } catch { continue; }
      if (state !== 'Z') out.push({ pid: Number(d), cmd: cmd.trim() });
    }
  }
  return out;
}

/**
 * The "mcpbox" cgroup directory under which the server with pid makes its sandboxes' cgroups for controller
 * (v1: 'cpu', 'cpuacct', 'memory', 'pids'; v2 has one hierarchy), where sessions/cgroup.c puts it: v1 under
 * the server's own cgroup of that controller, else at the mount's root; v2 beside the server's cgroup. Null
 * when there is none.
 */
export function cgroupBase(pid, controller = 'cpu') {
  const own = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
  let dirs;
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    dirs = [path.join('/sys/fs/cgroup', path.dirname(own.find((f) => f[0] === '0')[2]), 'mcpbox')];
  } else {
    const v1 = own.find((f) => f.length >= 3 && f[1].split(',').includes(controller));
    if (!v1) return null;
    dirs = [`/sys/fs/cgroup/${controller}${v1[2] === '/' ? '' : v1[2]}/mcpbox`, `/sys/fs/cgroup/${controller}/mcpbox`];
  }
  return dirs.find((d) => fs.existsSync(d)) || null;
}

/**
 * The cgroup directory of sandbox (session) id of the server with pid for controller: BASE/GROUP/ID (its
 * key's group), or BASE/ID as versions before key groups made it; null when there is none.
 */
export function sandboxCgroup(pid, id, controller = 'cpu') {
  const base = cgroupBase(pid, controller);
  if (!base) return null;
  if (fs.existsSync(path.join(base, id))) return path.join(base, id);
  for (const g of fs.readdirSync(base, { withFileTypes: true })) {
    if (g.isDirectory() && fs.existsSync(path.join(base, g.name, id))) return path.join(base, g.name, id);
  }
  return null;
}

/** pid, parent pid, state and start time (clock ticks since boot) of a host process, or null once it is gone. */
function procStat(pid) {
  let f;
  try { f = fs.readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '').split(' '); } catch { return null; }
  return { pid: Number(pid), state: f[0], ppid: Number(f[1]), start: f[19] };
}

/** Pids of `root` and of all its descendants (by parent pid; sandboxes are children of the server). */
export function pidTree(root) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (!st) continue;
    if (!kids.has(st.ppid)) kids.set(st.ppid, []);
    kids.get(st.ppid).push(st.pid);
  }
  const out = [], todo = [root];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(kids.get(p) || []));
  }
  return out;
}

/**
 * Processes under `root` (a server's pid) whose command line contains `needle`, with their start
 * times: unlike hostPidsMatching, other suites running on the host at the same time are not seen.
 */
export function treePidsMatching(root, needle) {
  const out = [];
  for (const pid of pidTree(root)) {
    let cmd;
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' '); } catch { continue; }
    const st = procStat(pid);
    if (st && st.state !== 'Z' && cmd.includes(needle)) out.push({ pid, cmd: cmd.trim(), start: st.start });
  }
  return out;
}

/** Of `procs` (from treePidsMatching), those still running wherever they are now (same pid and start time, not a zombie). */
export function stillAlive(procs) {
  return procs.filter((p) => {
    const st = procStat(p.pid);
    return st && st.start === p.start && st.state !== 'Z';
  });
}

/** Poll until fn() is truthy or timeout; returns the last value. */
export async function poll(fn, { timeout = 2000, interval = 25 } = {}) {
  const end = Date.now() + timeout;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(interval);
  }
}

/** A unique decimal number of seconds for `sleep`, so the process can be found by its command line. */
export function uniqueSleepSeconds(base = 30) {
  return `${base}.${process.pid % 1000}${Math.floor(Math.random() * 9000 + 1000)}`;
}

// ---------------------------------------------------------------------------------------------
// `mcpbox serve`: Streamable HTTP and WebSocket at /mcp

/**
 * A running `BIN serve` process. Fields: url (http://HOST:PORT/mcp), base (http://HOST:PORT), port,
 * key (the admin key printed on first start, else the `key` passed in), dataDir, pid, stdout (all of it).
 */
export class ServeServer {
  constructor(child, dataDir, ownDir) {
    this.child = child;
    this.dataDir = dataDir;
    this.ownDir = ownDir;
    this.stdout = '';
    this.errTail = tail(child.stderr);
    this.exited = null;
    this.exitWaiters = [];
    child.stdout.on('data', (c) => { this.stdout += c.toString(); });
    child.on('exit', (code, signal) => {
      this.exited = { code, signal, at: Date.now() };
      for (const w of this.exitWaiters) w();
      this.exitWaiters = [];
    });
  }

  get pid() { return this.child.pid; }
  stderr() { return this.errTail.text; }
  /** ws://HOST:PORT/mcp, with ?api_key=KEY when a key is given (browsers' WebSocket can't set headers). */
  wsUrl(key = this.key) {
    const u = new URL(this.url);
    u.protocol = 'ws:';
    if (key) u.searchParams.set('api_key', key);
    return u.toString();
  }

  waitExit(timeout = 5000) {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not exit within ${timeout} ms; stderr:\n${this.stderr()}`)), timeout);
      this.exitWaiters.push(() => { clearTimeout(timer); resolve(this.exited); });
    });
  }

  /** SIGTERM; resolves to {code, signal, ms}. SIGKILL (and a thrown error) when it does not exit in time. */
  async stop(timeout = 5000) {
    if (this.exited) return { ...this.exited, ms: 0 };
    const t0 = Date.now();
    this.child.kill('SIGTERM');
    try {
      const e = await this.waitExit(timeout);
      return { ...e, ms: Date.now() - t0 };
    } catch (err) {
      this.child.kill('SIGKILL');
      await this.waitExit(3000).catch(() => {});
      throw err;
    }
  }

  /** stop() and check that SIGTERM made it exit 0; removes the data dir when startServe made it. */
  async close({ keepData = false, timeout = 5000 } = {}) {
    try {
      const e = await this.stop(timeout);
      if (e.code !== 0) throw new Error(`serve exited ${JSON.stringify(e)} after SIGTERM (expected 0); stderr:\n${this.stderr()}`);
      return e;
    } finally {
      if (this.ownDir && !keepData) rmQuiet(this.dataDir);
    }
  }
}

// A test that fails between start and close must not leave a server behind (it would outlive node).
const liveServers = new Set();
process.on('exit', () => { for (const s of liveServers) { try { s.child.kill('SIGKILL'); } catch { /* gone */ } } });

/**
 * Spawn `[PREFIX...] BIN serve --data DIR --listen LISTEN [--auth AUTH] ...` (config: written to DIR/config.json first)
 * and wait for its banner:
 * "mcpbox X serving MCP at http://HOST:PORT/mcp ..." and, on the first start, the admin key.
 */
export async function startServe({ dataDir, config, auth, listen = '127.0.0.1:0', extraArgs = [], key, env, timeout = 10000, prefix = [] } = {}) {
  const ownDir = !dataDir;
  dataDir = dataDir || makeDataDir();
  if (config) fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify(config));
  const args = ['serve', '--data', dataDir, '--listen', listen, ...(auth ? ['--auth', auth] : []), ...extraArgs];
  // prefix: a command that execs the server (prlimit --nofile=N), so the pid stays the server's
  const child = spawn(prefix[0] || BIN, [...prefix.slice(1), ...(prefix.length ? [BIN] : []), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  const srv = new ServeServer(child, dataDir, ownDir);
  liveServers.add(srv);
  child.on('exit', () => liveServers.delete(srv));
  const banner = await poll(() => {
    if (srv.exited) return 'exited';
    const m = /serving MCP at (http:\/\/\S+\/mcp)/.exec(srv.stdout);
    if (!m) return null;
    // the first start prints a key: wait for its own line (only spaces + the key)
    if (/first admin/i.test(srv.stdout) && !/^\s+mcpbox_\S+\s*$/m.test(srv.stdout)) return null;
    return m[1];
  }, { timeout, interval: 10 });
  if (!banner || banner === 'exited') {
    if (!srv.exited) { child.kill('SIGKILL'); await srv.waitExit(3000).catch(() => {}); }
    if (ownDir) rmQuiet(dataDir);
    throw new Error(`serve did not start (${JSON.stringify(srv.exited)}): stdout:\n${srv.stdout}\nstderr:\n${srv.stderr()}`);
  }
  srv.url = banner;
  const u = new URL(banner);
  srv.base = `${u.protocol}//${u.host}`;
  srv.port = Number(u.port);
  const k = /^\s+(mcpbox_\S+)\s*$/m.exec(srv.stdout);
  srv.key = k ? k[1] : key || null;
  return srv;
}

/** `BIN key ARGS... --data DIR`, synchronously: {status, stdout, stderr}. */
export function keyCli(dataDir, ...args) {
  const r = spawnSync(BIN, ['key', ...args, '--data', dataDir], { encoding: 'utf8', timeout: 10000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `key create [--name N] [--admin]`: {key, id} (the key from stdout, its id from the message on stderr). */
export function createKey(dataDir, { name, admin = false, noNetwork = false } = {}) {
  const r = keyCli(dataDir, 'create', ...(name ? ['--name', name] : []), ...(admin ? ['--admin'] : []),
    ...(noNetwork ? ['--no-network'] : []));
  if (r.status !== 0) throw new Error(`key create exited ${r.status}: ${r.stderr}`);
  const key = /mcpbox_\S+/.exec(r.stdout)?.[0];
  const id = /key_[0-9a-f]+/.exec(r.stderr + r.stdout)?.[0];
  if (!key) throw new Error(`key create printed no key: ${r.stdout} ${r.stderr}`);
  return { key, id, stdout: r.stdout, stderr: r.stderr };
}

/** The SDK client over Streamable HTTP. Returns {client, transport, call, close}. */
export async function httpClient(srv, { key = srv.key, headers = {}, sessionId, name = 'mcpbox-e2e-http', url = srv.url } = {}) {
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const h = { ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: h }, sessionId });
  return connectSdk(transport, name);
}

/** The SDK client over WebSocket (key in ?api_key=, as browsers must). Needs a global WebSocket. */
export async function wsClient(srv, { key = srv.key, name = 'mcpbox-e2e-ws', url } = {}) {
  if (typeof globalThis.WebSocket !== 'function') {
    throw new Error('no global WebSocket: run node with --experimental-websocket (Node 20) or Node >= 22');
  }
  const { WebSocketClientTransport } = await import('@modelcontextprotocol/sdk/client/websocket.js');
  const transport = new WebSocketClientTransport(new URL(url || srv.wsUrl(key)));
  return connectSdk(transport, name);
}

async function connectSdk(transport, name) {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  await client.connect(transport);
  const call = (toolName, args = {}, opts = {}) =>
    client.callTool({ name: toolName, arguments: args }, undefined, { timeout: 120000, ...opts });
  return {
    client,
    transport,
    call,
    async close() { await client.close().catch(() => {}); },
  };
}

/** Parse a text/event-stream body into [{event, id, data}] (data joined with "\n"). */
export function parseSse(text) {
  const events = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    if (!block.trim()) continue;
    const ev = { event: 'message', data: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'data') ev.data.push(value);
      else if (field === 'event' || field === 'id' || field === 'retry') ev[field] = value;
    }
    ev.data = ev.data.join('\n');
    events.push(ev);
  }
  return events;
}

/**
 * One HTTP request with node:http, for full control over headers (Host, no Content-Length, ...).
 * Resolves to {status, headers, text, json} (json is undefined unless the body parses).
 * body: string/Buffer (Content-Length set unless chunked:true), or an object (JSON-encoded).
 */
export function httpRequest(srv, { method = 'POST', path: p = '/mcp', headers = {}, body, chunked = false, timeout = 15000, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    let payload = body;
    if (payload !== undefined && typeof payload !== 'string' && !Buffer.isBuffer(payload)) payload = JSON.stringify(payload);
    const h = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined && v !== null));
    if (payload !== undefined && !chunked) h['Content-Length'] = Buffer.byteLength(payload);
    const req = http.request({ host: new URL(srv.base).hostname, port: srv.port, method, path: p, headers: h, agent: false, timeout, localAddress }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out after ${timeout} ms`)));
    req.on('error', reject);
    if (payload !== undefined) {
      if (chunked) { req.write(payload.slice(0, 1)); req.write(payload.slice(1)); }
      else req.write(payload);
    }
    req.end();
  });
}

/**
 * Debian's Chromium, headless, driven by playwright-core (tests/display): the browser, or null after
 * t.skip() when either is missing.
 */
export async function launchChromium(t) {
  let chromium;
  try {
    const req = createRequire(path.join(REPO, 'tests', 'display', 'package.json'));
    ({ chromium } = req('playwright-core'));
  } catch {
    t.skip('playwright-core not installed in tests/display (make deps)');
    return null;
  }
  if (!fs.existsSync('/usr/bin/chromium')) { t.skip('chromium not installed'); return null; }
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
