// The JavaScript and shell kernels (kernel/wrap_kernel.py with kernel/node_driver.js or kernel/shell_driver.sh):
// a trivial cell on a started kernel and the first call of a fresh session, over stdio; beside the same driver
// fed over pipes on the host with no Jupyter layer, no sandbox and no MCP (what the kernel's machinery costs),
// measured in the same run.
//
//   node tests/bench/kernel_wrap.mjs [--bin build/mcpbox] [--n 200]     (standalone; prints markdown)
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

const LANGS = [
  { language: 'javascript', code: '1+1', expect: 'Out: 2',
    driver: ['/usr/bin/node', '--expose-internals', path.join(here, '../../kernel/node_driver.js'), '3', '4'],
    encode: (code) => JSON.stringify({ code }) + '\n' },
  { language: 'shell', code: 'echo 2', expect: '2\n',
    driver: ['/bin/bash', '--norc', '--noprofile', path.join(here, '../../kernel/shell_driver.sh'), '3', '4'],
    encode: (code) => code + '\0' },
];

// The driver alone: cells on its fd 3, events on its fd 4, as wrap_kernel.py runs it.
async function peerRoundTrips(lang, n) {
  const child = spawn(lang.driver[0], lang.driver.slice(1), { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
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
  const cell = () => new Promise((resolve) => { waiters.push(resolve); child.stdio[3].write(lang.encode(lang.code)); });
  const rt = [];
  try {
    for (let i = 0; i < 10; i++) await cell();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await cell();
      rt.push(performance.now() - t0);
    }
  } finally {
    child.kill('SIGKILL');
  }
  return rt;
}

async function benchOne(bin, dataDir, lang, n, fresh) {
  const c = await startStdio(bin, dataDir);
  const rt = [], inside = [];
  try {
    const sid = (await c.call('session_create', {})).structuredContent.session_id;
    const cell = () => c.timed('execute', { session_id: sid, language: lang.language, kernel: true, code: lang.code });
    for (let i = 0; i < 10; i++) await cell();
    for (let i = 0; i < n; i++) {
      const [ms, r] = await cell();
      if (!r.content[0].text.startsWith(lang.expect)) throw new Error(`${lang.code} said ${r.content[0].text}`);
      rt.push(ms);
      inside.push(r.structuredContent.duration_ms);
    }
  } finally {
    await c.close();
  }
  const warm = await freshCalls(bin, {}, fresh, lang.language, lang.code, lang.expect);
  const cold = await freshCalls(bin, { pool_kernels: false }, fresh, lang.language, lang.code, lang.expect);
  const peer = await peerRoundTrips(lang, n);
  const what = `\`${lang.code}\` (${lang.language})`;
  return [
    `| ${what} on a started kernel: MCP call to answer | ${f2(pct(rt, 0.5))} | ${f2(pct(rt, 0.99))} |`,
    `| the same, the server's own duration_ms (cell sent to DONE) | ${f2(pct(inside, 0.5))} | ${f2(pct(inside, 0.99))} |`,
    `| peer: the ${lang.language} driver alone, over pipes | ${f2(pct(peer, 0.5))} | ${f2(pct(peer, 0.99))} |`,
    `| first call in a fresh session, on the kernel started ahead in its warm-pool sandbox (${warm.ahead} of ${fresh}) | ${f2(pct(warm.first, 0.5))} | ${f2(Math.max(...warm.first))} (max) |`,
    `| the same with \`pool_kernels: false\`: kernel start + the cell | ${f2(pct(cold.first, 0.5))} | ${f2(Math.max(...cold.first))} (max) |`,
    `| of which the kernel's start (agent spawned to READY) | ${f2(pct(cold.start, 0.5))} | ${f2(Math.max(...cold.start))} (max) |`,
  ];
}

export async function benchWrapKernels({ bin, dataDir, n = 200, fresh = 5 }) {
  const own = !dataDir;
  dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-bench-kernelwrap-'));
  const rows = [];
  try {
    for (const lang of LANGS) rows.push(...await benchOne(bin, dataDir, lang, n, fresh));
  } finally {
    if (own) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return [
    '## JavaScript and shell kernels',
    '',
    `\`execute {kernel: true}\` for \`javascript\` and \`shell\` over stdio (\`tests/bench/kernel_wrap.mjs\`): mcpbox's ` +
      `wrapper kernel on Debian's ipykernel running cells in one Node.js process or one bash in the session's sandbox; ` +
      `beside that driver fed the same cell over pipes on the host (no Jupyter, no sandbox, no MCP), in the same run. ` +
      `n = ${n} round trips after 10; ${fresh} fresh sessions 3 s apart on a server whose kernels of that language are ` +
      `in use, once as configured by default (kernels started ahead in the warm pool) and once with ` +
      `\`pool_kernels: false\`; ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)} at the end.`,
    '',
    '| what | p50 ms | p99 ms |',
    '|---|---:|---:|',
    ...rows,
    '',
    'A start on demand is mostly Python importing ipykernel (as for the Python kernel); the difference to the ' +
      'peer per cell is the Jupyter messages, the wrapper, the agent and the MCP call.',
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
  process.stdout.write(await benchWrapKernels({ bin: path.resolve(arg('--bin', 'build/mcpbox')), n: Number(arg('--n', 200)) }) + '\n');
}
