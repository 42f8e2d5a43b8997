// The JavaScript kernel (kernel/node_kernel.py + kernel/node_driver.js): a `1+1` cell on a started kernel
// and the first call of a session (the kernel starts), over stdio; beside the same Node.js driver fed over
// pipes on the host with no Jupyter layer, no sandbox and no MCP (what the kernel's machinery costs),
// measured in the same run.
//
//   node tests/bench/kernel_js.mjs [--bin build/mcpbox] [--n 200]     (standalone; prints markdown)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startStdio } from './display.mjs';
import { freshCalls } from './kernels.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f2 = (x) => x.toFixed(2);

// The driver alone: cells on its fd 3, events on its fd 4, as node_kernel.py runs it.
async function peerRoundTrips(n) {
  const driver = path.join(here, '../../kernel/node_driver.js');
  const child = spawn('/usr/bin/node', ['--expose-internals', driver, '3', '4'],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
  const waiters = [];
  let pending = '';
  child.stdio[4].on('data', (d) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const ev = JSON.parse(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (ev.type === 'done') waiters.shift()(ev);
    }
  });
  const cell = (code) => new Promise((resolve) => { waiters.push(resolve); child.stdio[3].write(JSON.stringify({ code }) + '\n'); });
  const rt = [];
  try {
    for (let i = 0; i < 10; i++) await cell('1+1');
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await cell('1+1');
      rt.push(performance.now() - t0);
    }
  } finally {
    child.kill('SIGKILL');
  }
  return rt;
}

export async function benchKernelJs({ bin, dataDir, n = 200, fresh = 5 }) {
  const own = !dataDir;
  dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-bench-kerneljs-'));
  const c = await startStdio(bin, dataDir);
  const rt = [], inside = [];
  const cell = (sid, code) => c.timed('execute', { session_id: sid, language: 'javascript', kernel: true, code });
  try {
    const sid = (await c.call('session_create', {})).structuredContent.session_id;
    for (let i = 0; i < 10; i++) await cell(sid, '1+1');
    for (let i = 0; i < n; i++) {
      const [ms, r] = await cell(sid, '1+1');
      if (!r.content[0].text.startsWith('Out: 2')) throw new Error(`1+1 said ${r.content[0].text}`);
      rt.push(ms);
      inside.push(r.structuredContent.duration_ms);
    }
  } finally {
    await c.close();
    if (own) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const warm = await freshCalls(bin, {}, fresh, 'javascript');
  const cold = await freshCalls(bin, { pool_kernels: false }, fresh, 'javascript');
  const peer = await peerRoundTrips(n);
  return [
    '## JavaScript kernel',
    '',
    `\`execute {kernel: true, language: "javascript"}\` over stdio (\`tests/bench/kernel_js.mjs\`): mcpbox's wrapper ` +
      `kernel on Debian's ipykernel running cells in one Node.js process in the session's sandbox; beside that ` +
      `Node.js driver fed \`1+1\` over pipes on the host (no Jupyter, no sandbox, no MCP), in the same run. ` +
      `n = ${n} round trips after 10; ${fresh} fresh sessions 3 s apart on a server whose JavaScript kernels are in ` +
      `use, once as configured by default (kernels started ahead in the warm pool) and once with \`pool_kernels: false\`; ` +
      `${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} at the end.`,
    '',
    '| what | p50 ms | p99 ms |',
    '|---|---:|---:|',
    `| \`1+1\` on a started kernel: MCP call to answer | ${f2(pct(rt, 0.5))} | ${f2(pct(rt, 0.99))} |`,
    `| the same, the server's own duration_ms (cell sent to DONE) | ${f2(pct(inside, 0.5))} | ${f2(pct(inside, 0.99))} |`,
    `| peer: the driver alone, \`1+1\` over pipes | ${f2(pct(peer, 0.5))} | ${f2(pct(peer, 0.99))} |`,
    `| first call in a fresh session: \`1+1\` on the kernel started ahead in its warm-pool sandbox (${warm.ahead} of ${fresh}) | ${f2(pct(warm.first, 0.5))} | ${f2(Math.max(...warm.first))} (max) |`,
    `| the same with \`pool_kernels: false\`: kernel start + \`1+1\` | ${f2(pct(cold.first, 0.5))} | ${f2(Math.max(...cold.first))} (max) |`,
    `| of which the kernel's start (agent spawned to READY) | ${f2(pct(cold.start, 0.5))} | ${f2(Math.max(...cold.start))} (max) |`,
    '',
    'A start on demand is mostly Python importing ipykernel (as for the Python kernel) plus Node.js starting; ' +
      'the difference to the peer per cell is the Jupyter messages, the agent and the MCP call.',
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
  process.stdout.write(await benchKernelJs({ bin: path.resolve(arg('--bin', 'build/mcpbox')), n: Number(arg('--n', 200)) }) + '\n');
}
