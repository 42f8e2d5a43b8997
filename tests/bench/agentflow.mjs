// The AgentFlow dialect (seed 002) on `mcpbox serve --auth none`:
//   - its overhead over the MCP call it maps to: POST /api/v1/execute {bash:run} in a created bash session
//     against MCP tools/call execute (shell) over Streamable HTTP in the same server, calls alternated, p50/p99;
//   - POST /execute/batch of 16 bash:run with parallel: true against 16 sequential POST /execute calls.
//
//   node tests/bench/agentflow.mjs --bin build/mcpbox [--n 200]     (standalone; prints markdown)
//   import { benchAgentflow } from './agentflow.mjs'; await benchAgentflow({ bin, dataDir, n })
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServe } from './display.mjs';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f2 = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const t = await r.text();
  // an MCP answer may come as SSE (messages before the answer): the answer is the last data line
  const sse = t.startsWith('event:') || t.startsWith('data:') ? t.split('\n').filter((l) => l.startsWith('data: ')).pop()?.slice(6) : null;
  return { status: r.status, headers: r.headers, json: sse ? JSON.parse(sse) : t ? JSON.parse(t) : null };
}

export async function benchAgentflow({ bin, dataDir, n = 200 }) {
  const data = fs.mkdtempSync(path.join(dataDir, 'agentflow-'));
  // the overhead is measured, not the rate limit: a quiet machine runs more than 600 executions a minute
  const srv = await startServe(bin, data, { config: { rate_limits: { execute: { per_minute: 0 } } }, auth: false, args: ['-q'] });
  const B = srv.base;
  try {
    // MCP over Streamable HTTP: one initialized session, JSON answers
    const H = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
    const init = await post(`${B}/mcp`, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'af-bench', version: '1' } } }, H);
    const MH = { ...H, 'mcp-session-id': init.headers.get('mcp-session-id') };
    await post(`${B}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, MH);
    let id = 1;
    const mcp = async () => {
      const r = await post(`${B}/mcp`, { jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'execute', arguments: { language: 'shell', code: 'echo ok' } } }, MH);
      if (r.json?.result?.structuredContent?.stdout !== 'ok\n') throw new Error(`mcp execute: ${JSON.stringify(r.json).slice(0, 200)}`);
    };
    await post(`${B}/api/v1/session/create`, { worker_id: 'bench', resource_type: 'bash' });
    const af = async (worker = 'bench') => {
      const r = await post(`${B}/api/v1/execute`, { worker_id: worker, action: 'bash:run', params: { command: 'echo ok' } });
      if (r.json?.data?.stdout !== 'ok\n') throw new Error(`agentflow execute: ${JSON.stringify(r.json).slice(0, 200)}`);
    };
    for (let i = 0; i < 20; i++) { await mcp(); await af(); }
    const tm = [], ta = [];
    for (let i = 0; i < n; i++) {
      let t = now(); await mcp(); tm.push(now() - t);
      t = now(); await af(); ta.push(now() - t);
    }
    // batch: 16 bash:run, parallel, against 16 sequential /execute (same session, same commands)
    const rows = [];
    for (const [label, command] of [['`echo ok`', 'echo ok'], ['`sleep 0.1; echo ok`', 'sleep 0.1; echo ok']]) {
      const actions = Array.from({ length: 16 }, () => ({ action: 'bash:run', params: { command } }));
      const par = [], seq = [];
      const reps = Math.max(5, Math.min(20, Math.floor(n / 10)));
      for (let i = 0; i < reps; i++) {
        let t = now();
        const b = await post(`${B}/api/v1/execute/batch`, { worker_id: 'bench', actions, parallel: true });
        if (b.json?.data?.success_count !== 16) throw new Error(`batch: ${JSON.stringify(b.json).slice(0, 300)}`);
        par.push(now() - t);
        t = now();
        for (const a of actions) {
          const r = await post(`${B}/api/v1/execute`, { worker_id: 'bench', ...a });
          if (r.json?.code !== 0) throw new Error(`execute: ${JSON.stringify(r.json).slice(0, 200)}`);
        }
        seq.push(now() - t);
      }
      rows.push(`| 16 × ${label}: \`/execute/batch\` parallel | ${f2(pct(par, 0.5))} | ${f2(pct(par, 0.99))} | ${reps} |`);
      rows.push(`| 16 × ${label}: 16 sequential \`/execute\` | ${f2(pct(seq, 0.5))} | ${f2(pct(seq, 0.99))} | ${reps} |`);
    }
    const over50 = pct(ta, 0.5) - pct(tm, 0.5);
    return [
      '## AgentFlow dialect (seed 002)',
      '',
      `\`mcpbox serve --auth none\`, Node's fetch over keep-alive HTTP, ${os.cpus().length} cores. The overhead row compares`,
      'the same work through both faces of the core, calls alternated in one loop: `POST /api/v1/execute`',
      '`{action: "bash:run", command: "echo ok"}` in a created bash session against MCP `tools/call execute`',
      '(shell, `echo ok`) over Streamable HTTP (JSON answer) in the same server.',
      '',
      '| measurement | p50 ms | p99 ms | n |',
      '|---|---|---|---|',
      `| MCP \`tools/call execute\` (HTTP) | ${f2(pct(tm, 0.5))} | ${f2(pct(tm, 0.99))} | ${n} |`,
      `| AgentFlow \`/api/v1/execute\` \`bash:run\` | ${f2(pct(ta, 0.5))} | ${f2(pct(ta, 0.99))} | ${n} |`,
      `| dialect overhead (p50 difference; target ≤ 0.2 ms) | ${over50.toFixed(3)} | | |`,
      ...rows,
      '',
    ].join('\n');
  } finally {
    await srv.close();
    fs.rmSync(data, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'af-bench-'));
  benchAgentflow({ bin: path.resolve(arg('--bin', 'build/mcpbox')), dataDir: dir, n: Number(arg('--n', 200)) })
    .then((md) => { process.stdout.write(md + '\n'); fs.rmSync(dir, { recursive: true, force: true }); process.exit(0); })
    .catch((e) => { console.error(e); process.exit(1); });
}
