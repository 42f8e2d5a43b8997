// Server throughput without the client in the way: wrk (C, Debian) drives `mcpbox serve` and the peer
// @modelcontextprotocol/server-everything with the same pipelined-free keep-alive POSTs, 64 connections,
// each in an initialized MCP session. The SDK-client rows of bench.mjs measure what an SDK user sees;
// on 2 cores that client spends ~0.8 ms of CPU per call and caps both servers, so this is the row that
// says how much the servers themselves can serve.
//
//   node tests/bench/wrk.mjs --bin build/mcpbox        (standalone; prints markdown)
//   import { benchWrk } from './wrk.mjs'; await benchWrk({ bin, dataDir })
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.join(here, '..', 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
}

async function waitFor(child, re, ms = 10000) {
  let out = '';
  const onData = (c) => { out += c; };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const end = Date.now() + ms;
  while (Date.now() < end) { if (re.test(out)) return out; await sleep(20); }
  throw new Error(`server did not start: ${out.slice(-500)}`);
}

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function initialize(url) {
  const r = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'wrk', version: '1' } } }) });
  await r.text();
  const sid = r.headers.get('mcp-session-id');
  await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) }).then((x) => x.text());
  return sid;
}

function wrk(url, sid, body, seconds, dir) {
  const script = path.join(dir, `wrk-${Math.random().toString(16).slice(2)}.lua`);
  fs.writeFileSync(script, [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(body)}`,
    'wrk.headers["Content-Type"] = "application/json"',
    'wrk.headers["Accept"] = "application/json, text/event-stream"',
    `wrk.headers["Mcp-Session-Id"] = "${sid}"`,
    'wrk.headers["MCP-Protocol-Version"] = "2025-06-18"',
  ].join('\n'));
  const r = spawnSync('wrk', ['-t2', '-c64', `-d${seconds}s`, '-s', script, url], { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
  fs.rmSync(script, { force: true });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout || '');
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout || '');
  if (!rps) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  return { rps: Number(rps[1]), errors: non2xx ? Number(non2xx[1]) : 0 };
}

export async function benchWrk({ bin, dataDir, seconds = 5 }) {
  if (spawnSync('wrk', ['--version']).error) return '## Server throughput (wrk)\n\nwrk is not installed (make deps).\n';
  const dir = fs.mkdtempSync(path.join(dataDir, 'wrk-'));
  const box = spawn(bin, ['serve', '--data', path.join(dir, 'data'), '--listen', '127.0.0.1:0', '--auth', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const banner = await waitFor(box, /serving MCP at http:\/\/\S+\/mcp/);
  const url = /serving MCP at (http:\/\/\S+\/mcp)/.exec(banner)[1];
  const port = await freePort();
  const peer = spawn(process.execPath, [PEER, 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitFor(peer, /listening on port/i);
  const purl = `http://127.0.0.1:${port}/mcp`;
  const ping = (id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });
  const rows = [];
  try {
    const sid = await initialize(url), psid = await initialize(purl);
    const mPing = wrk(url, sid, ping(7), seconds, dir);
    const pPing = wrk(purl, psid, ping(7), seconds, dir);
    const mCall = wrk(url, sid, JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'session_list', arguments: {} } }), seconds, dir);
    const pCall = wrk(purl, psid, JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hi' } } }), seconds, dir);
    rows.push(['`ping`', mPing, pPing], ['`tools/call` (mcpbox session_list, peer echo)', mCall, pCall]);
  } finally {
    box.kill('SIGTERM');
    peer.kill('SIGTERM');
    await sleep(300);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return [
    '## Server throughput with a C load generator (wrk)',
    '',
    `wrk 4.1, 2 threads, 64 keep-alive connections, ${seconds} s each, one initialized MCP session per server, over Streamable HTTP on ${os.cpus().length} cores shared by both ends. ` +
      'The SDK-client rows above are capped by the client; this shows what the servers can serve.',
    '',
    '| request | mcpbox req/s | errors | server-everything req/s | errors | ratio | target | met? |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows.map(([name, m, p]) => `| ${name} | ${m.rps.toFixed(0)} | ${m.errors} | ${p.rps.toFixed(0)} | ${p.errors} | ${(m.rps / p.rps).toFixed(1)}× | ≥ 5× the peer | ${m.rps >= 5 * p.rps ? 'met' : '**missed**'} |`),
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--bin');
  const bin = path.resolve(i > 0 ? process.argv[i + 1] : 'build/mcpbox');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-wrk-'));
  benchWrk({ bin, dataDir: dir }).then((md) => { console.log(md); fs.rmSync(dir, { recursive: true, force: true }); process.exit(0); })
    .catch((e) => { console.error(e); process.exit(1); });
}
