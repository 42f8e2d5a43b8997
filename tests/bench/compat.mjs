// REST dialect overhead: a dialect's request against the MCP tools/call it maps to, same server,
// same sandbox, same HTTP client (node:http, one keep-alive connection each), calls interleaved
// (REST, MCP, REST, ...) so both see the same machine load. Overhead = REST p50 - MCP p50 (and p99),
// plus the median of the per-pair differences.
//
//   node tests/bench/compat.mjs --bin build/mcpbox [--n 300]     (standalone; prints markdown)
//   import { benchCompat } from './compat.mjs'; await benchCompat({ bin, dataDir, n })
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
export const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };
export const fmt = (x) => (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3));

export async function waitFor(child, re, ms = 10000) {
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { out += c; });
  const end = Date.now() + ms;
  while (Date.now() < end) { if (re.test(out)) return out; await sleep(20); }
  throw new Error(`server did not start: ${out.slice(-500)}`);
}

export function post(agent, port, p, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: p, agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function get(agent, port, p, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: p, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** n interleaved pairs (alternating which goes first) after 20 warm-up pairs: {a, b, d} latencies in ms. */
export async function pairs(rest, mcp, n) {
  for (let i = 0; i < 20; i++) { await rest(); await mcp(); }
  const a = [];
  const b = [];
  const d = [];
  for (let i = 0; i < n; i++) {
    const order = i % 2 ? [['r', rest], ['m', mcp]] : [['m', mcp], ['r', rest]];
    const t = {};
    for (const [k, fn] of order) { const t0 = now(); await fn(); t[k] = now() - t0; }
    a.push(t.r);
    b.push(t.m);
    d.push(t.r - t.m);
  }
  return { a, b, d };
}

function row(what, mapsTo, { a, b, d }) {
  const over50 = pct(a, 50) - pct(b, 50);
  return `| ${what} | ${fmt(pct(a, 50))} | ${fmt(pct(a, 99))} | ${mapsTo} | ${fmt(pct(b, 50))} | ${fmt(pct(b, 99))} | ${fmt(over50)} | ${fmt(pct(a, 99) - pct(b, 99))} | ${fmt(pct(d, 50))} | p50 overhead ≤ 0.2 ms | ${over50 <= 0.2 ? 'met' : '**missed**'} |`;
}

/** The JSON-RPC response in a Streamable HTTP answer (JSON or one SSE event). */
function rpcResult(res) {
  const t = res.text.trim();
  const data = t.startsWith('{') ? t : t.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).pop();
  return JSON.parse(data);
}

export async function benchCompat({ bin, dataDir, n = 300 }) {
  const dir = fs.mkdtempSync(path.join(dataDir, 'compat-'));
  const box = spawn(bin, ['serve', '--data', path.join(dir, 'data'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const out = await waitFor(box, /^\s+mcpbox_\S+\s*$/m);
    const url = new URL(/serving MCP at (http:\/\/\S+\/mcp)/.exec(out)[1]);
    const key = /^\s+(mcpbox_\S+)\s*$/m.exec(out)[1];
    const port = Number(url.port);
    const auth = { Authorization: `Bearer ${key}` };
    const restAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const mcpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const mcpHeaders = { ...auth, Accept: 'application/json, text/event-stream' };
    const init = await post(mcpAgent, port, '/mcp', mcpHeaders, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-compat', version: '1' } } }));
    mcpHeaders['Mcp-Session-Id'] = init.headers['mcp-session-id'];
    mcpHeaders['MCP-Protocol-Version'] = '2025-06-18';
    await post(mcpAgent, port, '/mcp', mcpHeaders, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));

    const restBody = JSON.stringify({ execution_id: 'exec_bench', session_id: 'bench', code: 'true', language: 'shell', timeout: 10 });
    const rest = async () => {
      const r = await post(restAgent, port, '/execute', auth, restBody);
      if (r.status !== 200 || JSON.parse(r.text).status !== 'completed') throw new Error(`POST /execute: ${r.status} ${r.text}`);
    };
    await rest(); // makes the sandbox the name stands for
    const list = rpcResult(await post(mcpAgent, port, '/mcp', mcpHeaders, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call',
      params: { name: 'session_list', arguments: { labels: { 'compat.executor.session_id': 'bench' } } } })));
    const sid = list.result.structuredContent.sessions[0].session_id;
    let id = 10;
    const mcpCall = async () => {
      const r = rpcResult(await post(mcpAgent, port, '/mcp', mcpHeaders, JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call',
        params: { name: 'execute', arguments: { language: 'shell', code: 'true', session_id: sid, timeout_s: 10 } } })));
      if (r.error || r.result.isError) throw new Error(`execute: ${JSON.stringify(r)}`);
    };
    const executor = await pairs(rest, mcpCall, n);

    // 000 manager: GET /api/v1/sandboxes/{id}/status against tools/call session_info
    const made = await post(restAgent, port, '/api/v1/sandboxes', { 'X-API-KEY': key }, JSON.stringify({ userId: 'bench' }));
    if (made.status !== 201) throw new Error(`POST /api/v1/sandboxes: ${made.status} ${made.text}`);
    const box0 = JSON.parse(made.text).data.sandboxId;
    const status = async () => {
      const r = await get(restAgent, port, `/api/v1/sandboxes/${box0}/status`, { 'X-API-KEY': key });
      if (r.status !== 200 || JSON.parse(r.text).data.status !== 'RUNNING') throw new Error(`GET status: ${r.status} ${r.text}`);
    };
    const info = async () => {
      const r = rpcResult(await post(mcpAgent, port, '/mcp', mcpHeaders, JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call',
        params: { name: 'session_info', arguments: { session_id: box0 } } })));
      if (r.error || r.result.isError) throw new Error(`session_info: ${JSON.stringify(r)}`);
    };
    const manager = await pairs(status, info, n);
    restAgent.destroy();
    mcpAgent.destroy();
    return [
      '## REST dialects: overhead over the MCP call they map to',
      '',
      `\`mcpbox serve\` with an API key; ${n} pairs after 20 warm-up pairs, interleaved (REST, MCP, alternating which goes first), ` +
        `each side on its own keep-alive connection from node:http in one process, on ${os.cpus().length} cores shared with the server. ` +
        '000: the status of one running sandbox against `session_info` of the same session. 001: the REST request and the MCP `tools/call` run the same program (`true`, shell) in the same sandbox; the REST side also looks the sandbox up by its name (`session_list` with a label) on every call.',
      '',
      '| request | p50 ms | p99 ms | MCP call it maps to | p50 ms | p99 ms | overhead p50 ms | overhead p99 ms | median of per-pair differences ms | target | met? |',
      '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
      row('000 manager `GET /api/v1/sandboxes/{id}/status`', '`tools/call session_info {session_id}` over Streamable HTTP', manager),
      row('001 executor `POST /execute` (shell `true`, session_id `bench`)', '`tools/call execute` over Streamable HTTP', executor),
      '',
    ].join('\n');
  } finally {
    box.kill('SIGTERM');
    await sleep(300);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
  const bin = path.resolve(arg('--bin', 'build/mcpbox'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-compat-'));
  benchCompat({ bin, dataDir: dir, n: Number(arg('--n', 300)) }).then((md) => { console.log(md); fs.rmSync(dir, { recursive: true, force: true }); process.exit(0); })
    .catch((e) => { console.error(e); process.exit(1); });
}
