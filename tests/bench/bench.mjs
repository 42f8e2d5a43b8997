// mcpbox benchmarks: node tests/bench/bench.mjs BIN [--data DIR] [--n N] [--out FILE]
//
// Everything is measured from this process with the official MCP TypeScript SDK client over stdio,
// and compared with peers measured in the same run:
//   /bin/sh -c true, a bwrap sandbox running /bin/true, /usr/bin/python3 -c 'print(1)' (each spawned
//   per call from node), and the unisolated MCP server mcp-server-commands (npm) over the same client.
// Prints a markdown table and writes it to docs/benchmarks.md (relative to the repo root).

import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..');
const TESTS = path.resolve(here, '..');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv.splice(i, 2)[1] : dflt;
};
const N = Number(opt('--n', process.env.BENCH_N || 200));
const SPAWN_RUNS = Number(opt('--spawn-runs', process.env.BENCH_SPAWN_RUNS || 20));
const OUT = path.resolve(REPO, opt('--out', 'docs/benchmarks.md'));
let DATA = opt('--data', '');
const BIN = path.resolve(argv[0] || path.join(REPO, 'build', 'mcpbox'));
const WARMUP = 10;
const LOAD0 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
const PEER_CMDS = path.join(TESTS, 'node_modules', '.bin', 'mcp-server-commands');
const BWRAP = ['--unshare-all', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib',
  '--symlink', 'usr/lib64', '/lib64', '--proc', '/proc', '--dev', '/dev', '/bin/true'];

if (!fs.existsSync(BIN)) { console.error(`bench: no binary at ${BIN}`); process.exit(2); }
const ownData = !DATA;
if (!DATA) DATA = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-bench-'));

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
function pct(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}
const stats = (samples) => ({ n: samples.length, p50: pct(samples, 50), p99: pct(samples, 99), samples });
const log = (...a) => console.error('bench:', ...a);

async function timeLoop(n, fn, warmup = WARMUP) {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await fn(i);
    out.push(now() - t0);
  }
  return stats(out);
}

// ---------------------------------------------------------------------------------------------
// MCP servers over stdio

let dataSeq = 0;
async function connect(kind, config) {
  let params;
  if (kind === 'mcpbox') {
    const dir = fs.mkdtempSync(path.join(DATA, `d${dataSeq++}-`));
    if (config) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    params = { command: BIN, args: ['stdio', '--data', dir] };
  } else {
    params = { command: PEER_CMDS, args: [] };
  }
  const transport = new StdioClientTransport({ ...params, stderr: 'pipe', env: { ...process.env } });
  transport.stderr?.on('data', () => {});
  const client = new Client({ name: 'mcpbox-bench', version: '1.0.0' }, { capabilities: {} });
  const t0 = now();
  await client.connect(transport);
  const ms = now() - t0;
  return { client, transport, ms, pid: transport.pid };
}

async function call(c, name, args) {
  const r = await c.client.callTool({ name, arguments: args }, undefined, { timeout: 60000 });
  if (r.isError) throw new Error(`${name} ${JSON.stringify(args)} failed: ${JSON.stringify(r.content).slice(0, 300)}`);
  return r;
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
function descendants(pid) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    for (const k of kids.get(p) || []) { out.push(k); stack.push(k); }
  }
  return out;
}
function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}
function treePssKiB(pid) {
  let sum = pssKiB(pid);
  for (const p of descendants(pid)) sum += pssKiB(p);
  return sum;
}
function treeRssKiB(pid) {
  let sum = rssKiB(pid);
  for (const p of descendants(pid)) { try { sum += rssKiB(p); } catch { /* gone */ } }
  return sum;
}

// ---------------------------------------------------------------------------------------------

function spawnPeer(cmd, args) {
  return timeLoop(N, () => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  });
}

async function main() {
  const res = {};
  const notes = [];

  log(`N=${N}, spawn runs=${SPAWN_RUNS}, binary ${BIN}`);

  // spawn to initialized + cold (first after start) session_create
  {
    const spawnMs = [];
    const firstCreate = [];
    for (let i = 0; i < SPAWN_RUNS + 2; i++) {
      const c = await connect('mcpbox');
      const t0 = now();
      await call(c, 'session_create', {});
      const cs = now() - t0;
      if (i >= 2) { spawnMs.push(c.ms); firstCreate.push(cs); }
      await c.client.close();
    }
    res.spawn = stats(spawnMs);
    res.createFirst = stats(firstCreate);
  }
  log('spawn done');

  // cold session_create: a server without a warm pool, so every sandbox is cloned on demand
  {
    const cold = await connect('mcpbox', { pool_size: 0 });
    const out = [];
    for (let i = 0; i < Math.min(N, 50) + WARMUP; i++) {
      const t0 = now();
      const r = await call(cold, 'session_create', {});
      const ms = now() - t0;
      if (i >= WARMUP) out.push(ms);
      await call(cold, 'session_destroy', { session_id: r.structuredContent.session_id });
    }
    res.createCold = stats(out);
    await cold.client.close();
  }
  log('session_create cold done');

  const box = await connect('mcpbox');
  await box.client.listTools();

  // warm session_create: create then destroy (destroy not timed), a short pause lets any pool refill
  {
    const out = [];
    for (let i = 0; i < N + WARMUP; i++) {
      const t0 = now();
      const r = await call(box, 'session_create', {});
      const ms = now() - t0;
      if (i >= WARMUP) out.push(ms);
      await call(box, 'session_destroy', { session_id: r.structuredContent.session_id });
      await new Promise((r2) => setTimeout(r2, 5));
    }
    res.createWarm = stats(out);
  }
  log('session_create warm done');

  // burst: 60 creates back to back without destroying; the second half runs with any pool exhausted
  {
    const ids = [];
    const out = [];
    for (let i = 0; i < 60; i++) {
      const t0 = now();
      const r = await call(box, 'session_create', {});
      out.push(now() - t0);
      ids.push(r.structuredContent.session_id);
    }
    res.createBurst = stats(out.slice(30));
    for (const id of ids) await call(box, 'session_destroy', { session_id: id });
  }
  log('session_create burst done');

  // network:true sessions (no pooled sandbox can be reused for them, if any pooling is network-less)
  try {
    const out = [];
    for (let i = 0; i < Math.min(N, 50); i++) {
      const t0 = now();
      const r = await call(box, 'session_create', { network: true });
      out.push(now() - t0);
      await call(box, 'session_destroy', { session_id: r.structuredContent.session_id });
    }
    res.createNet = stats(out);
  } catch (e) {
    notes.push(`session_create network:true failed: ${e.message.split('\n')[0]}`);
  }

  // a new session's first result: catches a session_create that only defers the work to first use
  {
    const out = [];
    for (let i = 0; i < Math.min(N, 50) + 5; i++) {
      const t0 = now();
      const id = (await call(box, 'session_create', {})).structuredContent.session_id;
      await call(box, 'execute', { language: 'shell', code: 'true', session_id: id });
      if (i >= 5) out.push(now() - t0);
      await call(box, 'session_destroy', { session_id: id });
    }
    res.createFirstExec = stats(out);
  }

  res.shTrue = await timeLoop(N, () => call(box, 'execute', { language: 'shell', code: 'true' }));
  log('execute shell done');
  res.echo = await timeLoop(N, () => call(box, 'execute', { language: 'shell', code: 'echo hi' }));
  res.py = await timeLoop(N, () => call(box, 'execute', { language: 'python', code: 'print(1)' }));
  log('execute python done');

  // RSS per idle session
  {
    await new Promise((r) => setTimeout(r, 200));
    const before = rssKiB(box.pid);
    const beforeTree = treeRssKiB(box.pid);
    const beforePss = treePssKiB(box.pid);
    const beforeProcs = descendants(box.pid).length;
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push((await call(box, 'session_create', {})).structuredContent.session_id);
    await new Promise((r) => setTimeout(r, 500));
    const after = rssKiB(box.pid);
    const afterTree = treeRssKiB(box.pid);
    const afterPss = treePssKiB(box.pid);
    const afterProcs = descendants(box.pid).length;
    res.rss = { before, after, per: (after - before) / 50, treePer: (afterTree - beforeTree) / 50, beforeTree, afterTree,
      beforePss, afterPss, pssPer: (afterPss - beforePss) / 50, beforeProcs, afterProcs };
    for (const id of ids) await call(box, 'session_destroy', { session_id: id });
  }
  await box.client.close();
  log('rss done');

  // peers
  res.peerSh = await spawnPeer('/bin/sh', ['-c', 'true']);
  try {
    res.peerBwrap = await spawnPeer('bwrap', BWRAP);
  } catch (e) {
    notes.push(`bwrap could not run here: ${e.message.split('\n')[0]}`);
  }
  res.peerPy = await spawnPeer('/usr/bin/python3', ['-c', 'print(1)']);
  log('spawn peers done');

  if (fs.existsSync(PEER_CMDS)) {
    const spawnMs = [];
    for (let i = 0; i < SPAWN_RUNS + 2; i++) {
      const c = await connect('peer');
      if (i >= 2) spawnMs.push(c.ms);
      await c.client.close();
    }
    res.peerSpawn = stats(spawnMs);
    const c = await connect('peer');
    const tools = (await c.client.listTools()).tools.map((t) => t.name);
    const tool = ['run_process', 'run_command'].find((t) => tools.includes(t)) || tools[0];
    const args = tool === 'run_process' ? { mode: 'shell', command_line: 'echo hi' } : { command: 'echo hi' };
    res.peerEcho = await timeLoop(N, () => call(c, tool, args));
    res.peerTool = tool;
    await c.client.close();
  } else {
    notes.push('mcp-server-commands not installed (run make deps)');
  }
  log('mcp-server-commands done');

  return { res, notes };
}

function fmt(x) {
  if (x === undefined || Number.isNaN(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');

function report({ res, notes }) {
  const rows = [];
  const row = (metric, s, peerName, peer, target, met) => rows.push(
    `| ${metric} | ${fmt(s?.p50)} | ${fmt(s?.p99)} | ${peerName} | ${fmt(peer?.p50)} | ${fmt(peer?.p99)} | ${peer ? ratio(s?.p50, peer.p50) : '—'} | ${target} | ${met === undefined ? '—' : met ? 'met' : '**missed**'} |`);

  row('spawn → initialized (mcpbox process start, initialize, initialized)', res.spawn, 'mcp-server-commands spawn → initialized', res.peerSpawn,
    'p50 ≤ 10 ms', res.spawn.p50 <= 10);
  row('session_create, warm (create + destroy loop)', res.createWarm, '—', null, 'p50 ≤ 1 ms', res.createWarm.p50 <= 1);
  row('session_create, cold (no warm pool: clone, namespaces, mounts, cgroups)', res.createCold, '—', null, 'p50 ≤ 5 ms', res.createCold.p50 <= 5);
  row('session_create, first call after server start', res.createFirst, '—', null, '', undefined);
  row('session_create, cold: burst of 60, last 30 (pool exhausted)', res.createBurst, '—', null, 'p50 ≤ 5 ms', res.createBurst.p50 <= 5);
  row('session_create + first execute `true` in it', res.createFirstExec, 'execute `true` in a used session', res.shTrue, '', undefined);
  if (res.createNet) row('session_create network:true', res.createNet, '—', null, '', undefined);
  row('execute shell `true`', res.shTrue, '`/bin/sh -c true` spawned from node', res.peerSh, 'p50 ≤ 1.5 ms', res.shTrue.p50 <= 1.5);
  if (res.peerBwrap) {
    row('execute shell `true` vs one bwrap sandbox', res.shTrue, '`bwrap --unshare-all … /bin/true`', res.peerBwrap,
      '≥ 2× faster than bwrap (ratio ≤ 0.5×)', res.shTrue.p50 * 2 <= res.peerBwrap.p50);
  }
  row('execute shell `echo hi`', res.echo, `mcp-server-commands \`${res.peerTool || '?'}\` echo hi (unisolated)`, res.peerEcho, '', undefined);
  row('execute python `print(1)`', res.py, "`/usr/bin/python3 -c 'print(1)'`", res.peerPy, 'within 1.2× of bare python3', res.py.p50 <= 1.2 * res.peerPy.p50);

  const r = res.rss;
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const cpu = (() => { try { return /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))[1]; } catch { return '?'; } })();
  const kernel = os.release();
  let bwrapV = '';
  try { bwrapV = execFileSync('bwrap', ['--version']).toString().trim(); } catch { /* absent */ }

  const md = [
    '# mcpbox benchmarks',
    '',
    `Generated by \`make bench\` (tests/bench/run.sh → tests/bench/bench.mjs) on ${date}.`,
    '',
    `Machine: ${os.cpus().length} CPUs (nproc ${os.availableParallelism?.() ?? os.cpus().length}), ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${kernel}, node ${process.version}, ${bwrapV || 'bwrap absent'}, run as uid ${process.getuid()}, load average at start ${LOAD0} (other work on the machine makes the numbers noisier).`,
    '',
    `Method: the official MCP TypeScript SDK client (${sdkVersion()}) over stdio, timing each call from the client (JSON encode → pipe → server → pipe → decode);`,
    `${N} iterations after ${WARMUP} warm-up calls (spawn → initialized: ${SPAWN_RUNS} fresh processes). Peers are spawned per call from node with spawnSync, or driven with the same client.`,
    'Ratio = mcpbox p50 / peer p50 (below 1× means mcpbox is faster).',
    '',
    '| metric | p50 ms | p99 ms | peer | peer p50 ms | peer p99 ms | ratio | target | target met? |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |',
    ...rows,
    '',
    'Memory: the target is read on the mcpbox server process itself (VmRSS before and after creating 50 idle sessions, divided by 50).',
    'Sandboxes live in child processes, so the whole process tree is shown too (PSS splits shared pages fairly between processes).',
    '',
    '| memory | value | target | target met? |',
    '| --- | ---: | --- | --- |',
    `| server VmRSS growth per idle session (50 sessions: ${r.before} → ${r.after} KiB) | ${r.per.toFixed(1)} KiB | ≤ 256 KiB | ${r.per <= 256 ? 'met' : '**missed**'} |`,
    `| server + all its descendant processes (${r.beforeProcs} → ${r.afterProcs} processes), PSS growth per idle session (${r.beforePss} → ${r.afterPss} KiB) | ${r.pssPer.toFixed(1)} KiB | ≤ 256 KiB (whole-tree reading) | ${r.pssPer <= 256 ? 'met' : '**missed**'} |`,
    `| server + all its descendant processes, RSS growth per idle session (${r.beforeTree} → ${r.afterTree} KiB; counts shared pages once per process) | ${r.treePer.toFixed(1)} KiB | (information) | — |`,
    '',
  ];
  if (notes.length) md.push('Notes:', '', ...notes.map((n) => `- ${n}`), '');
  return md.join('\n');
}

function sdkVersion() {
  try {
    return '@modelcontextprotocol/sdk ' + JSON.parse(fs.readFileSync(path.join(TESTS, 'node_modules/@modelcontextprotocol/sdk/package.json'), 'utf8')).version;
  } catch { return '@modelcontextprotocol/sdk'; }
}

try {
  const out = await main();
  const md = report(out);
  process.stdout.write(md + '\n');
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, md + '\n');
  log(`wrote ${OUT}`);
  if (ownData) fs.rmSync(DATA, { recursive: true, force: true });
  process.exit(0);
} catch (e) {
  console.error('bench failed:', e);
  process.exit(1);
}
