// RL-harness benchmarks (issue 5): an episode starts from a prepared snapshot, runs, and is thrown away.
//   - create from snapshot + one execute (an episode's start), p50/p99, on a workspace of 2,000 files / 50 MB,
//     beside `cp -a` of the same workspace (what a copy-based reset costs);
//   - episodes per second with 16 workers in parallel (create from snapshot, python3 -c 'print(1)', destroy);
//   - session_snapshot after changing 3 files, session_restore of a changed workspace, through the tools.
//
//   node tests/bench/rl.mjs --bin build/mcpbox [--n 50]        (standalone; prints markdown)
//   import { benchRl } from './rl.mjs'; await benchRl({ bin, dataDir, n })
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f1 = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** A bare JSON-RPC client over `bin stdio`, concurrent requests allowed. */
async function stdio(bin, dataDir) {
  const child = spawn(bin, ['stdio', '--data', dataDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting = new Map();
  let pending = '', nextId = 1;
  child.stderr.on('data', () => {});
  child.stdout.on('data', (c) => {
    pending += c;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const m = JSON.parse(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (m.id !== undefined && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
    }
  });
  const request = (method, params) => new Promise((resolve) => {
    const id = nextId++;
    waiting.set(id, resolve);
    child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
  });
  await request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'rl-bench', version: '1' } });
  const call = async (name, args) => {
    const r = await request('tools/call', { name, arguments: args });
    if (r.error || r.result.isError) throw new Error(`${name}: ${JSON.stringify(r.error || r.result.content)}`);
    return r.result.structuredContent;
  };
  const close = () => new Promise((resolve) => { child.on('exit', resolve); child.stdin.end(); });
  return { call, close };
}

export async function benchRl({ bin, dataDir, n = 50 }) {
  const data = fs.mkdtempSync(path.join(dataDir, 'rl-'));
  const box = await stdio(bin, data);
  const rows = [];
  const sid = (await box.call('session_create', { name: 'prepared' })).session_id;
  // 2,000 files / 50 MB: 1,990 small source-like files and 10 blobs of 5 MB
  await box.call('execute', { session_id: sid, language: 'python', timeout_s: 120, code: [
    'import os',
    'for d in range(20):',
    '    os.makedirs(f"src/pkg{d}", exist_ok=True)',
    '    for f in range(99 if d < 10 else 100):',
    '        open(f"src/pkg{d}/m{f}.py", "w").write(f"# module {d}.{f}\\n" + "x = 1\\n" * 40)',
    'for b in range(10):',
    '    open(f"blob{b}.bin", "wb").write(os.urandom(5 << 20))',
  ].join('\n') });
  const t0 = now();
  const snap = await box.call('session_snapshot', { session_id: sid, name: 'prepared' });
  const firstSnapMs = now() - t0;

  // episode start: create from snapshot + one execute
  const start = [];
  for (let i = 0; i < n; i++) {
    const a = now();
    const s = (await box.call('session_create', { snapshot_id: snap.snapshot_id })).session_id;
    await box.call('execute', { session_id: s, language: 'shell', code: 'test -f blob9.bin' });
    start.push(now() - a);
    await box.call('session_destroy', { session_id: s });
  }
  const ws = path.join(data, 'workspaces', sid);
  const cp = [];
  for (let i = 0; i < Math.min(n, 10); i++) {
    const dest = path.join(data, `cp-${i}`);
    const a = now();
    spawnSync('cp', ['-a', ws, dest]);
    cp.push(now() - a);
    fs.rmSync(dest, { recursive: true, force: true });
  }
  rows.push(['create from snapshot + one execute (2,000 files / 50 MB)', pct(start, 0.5), pct(start, 0.99),
    '`cp -a` of the workspace', pct(cp, 0.5), pct(cp, 0.99), 'p50 ≤ 60 ms', pct(start, 0.5) <= 60]);

  // re-snapshot after 3 changed files, and restore of a changed workspace, through the tools
  const resnap = [], restore = [];
  for (let i = 0; i < Math.min(n, 30); i++) {
    await box.call('execute', { session_id: sid, language: 'shell', code: `for f in 1 2 3; do echo ${i} >> src/pkg1/m$f.py; done` });
    let a = now();
    const s2 = await box.call('session_snapshot', { session_id: sid });
    resnap.push(now() - a);
    await box.call('execute', { session_id: sid, language: 'shell', code: 'echo junk > junk; rm src/pkg2/m1.py; echo z >> src/pkg3/m3.py' });
    a = now();
    await box.call('session_restore', { session_id: sid, snapshot_id: s2.snapshot_id, keep_processes: true });
    restore.push(now() - a);
    await box.call('snapshot_delete', { snapshot_id: s2.snapshot_id });
  }
  rows.push(['session_snapshot after changing 3 files', pct(resnap, 0.5), pct(resnap, 0.99), '', null, null, 'p50 ≤ 30 ms', pct(resnap, 0.5) <= 30]);
  rows.push(['session_restore of a changed workspace (keep_processes)', pct(restore, 0.5), pct(restore, 0.99), '`cp -a` of the workspace', pct(cp, 0.5), pct(cp, 0.99), 'p50 ≤ 50 ms', pct(restore, 0.5) <= 50]);

  // episodes per second: 16 workers, each: create from snapshot, python3 print(1), destroy
  const small = (await box.call('session_create', {})).session_id;
  await box.call('execute', { session_id: small, language: 'shell', code: 'mkdir -p env; for i in $(seq 50); do echo $i > env/f$i; done' });
  const smallSnap = (await box.call('session_snapshot', { session_id: small })).snapshot_id;
  const workers = 16, seconds = 5;
  let episodes = 0;
  const deadline = now() + seconds * 1000;
  const t1 = now();
  await Promise.all(Array.from({ length: workers }, async () => {
    while (now() < deadline) {
      const s = (await box.call('session_create', { snapshot_id: smallSnap })).session_id;
      await box.call('execute', { session_id: s, language: 'python', code: 'print(1)' });
      await box.call('session_destroy', { session_id: s });
      episodes++;
    }
  }));
  const eps = episodes / ((now() - t1) / 1000);
  await box.close();
  fs.rmSync(data, { recursive: true, force: true });

  const lines = [
    '## Snapshots and RL episodes (issue 5)',
    '',
    `Workspace: 2,000 files, 50 MB (10 random 5 MB blobs, 1,990 small text files). First \`session_snapshot\` of it: ${f1(firstSnapMs)} ms ` +
      `(${snap.files} files). Run as uid ${process.getuid()} (${process.getuid() === 0 ? 'sessions from a snapshot are overlays on its tree' : 'no overlays without root: sessions from a snapshot are filled by a restore'}).`,
    '',
    '| metric | p50 ms | p99 ms | peer | peer p50 ms | peer p99 ms | target | met? |',
    '| --- | ---: | ---: | --- | ---: | ---: | --- | --- |',
    ...rows.map(([m, p50, p99, peer, pp50, pp99, target, met]) =>
      `| ${m} | ${f1(p50)} | ${f1(p99)} | ${peer || '—'} | ${pp50 == null ? '—' : f1(pp50)} | ${pp99 == null ? '—' : f1(pp99)} | ${target} | ${met ? 'met' : '**missed**'} |`),
    '',
    `Episodes per second, ${workers} workers in parallel for ${seconds} s on ${os.cpus().length} cores (create from a 50-file snapshot, ` +
      `\`python3 -c 'print(1)'\`, destroy): **${eps.toFixed(0)}/s** (target ≥ 100: ${eps >= 100 ? 'met' : '**missed**'}).`,
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, def) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
  const bin = path.resolve(arg('--bin', 'build/mcpbox'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-rl-'));
  benchRl({ bin, dataDir: dir, n: Number(arg('--n', 50)) })
    .then((md) => { console.log(md); fs.rmSync(dir, { recursive: true, force: true }); })
    .catch((e) => { console.error(e); process.exit(1); });
}
