// The grep tool over a 10,000-file, 100 MB workspace against `grep -rnE` run inside the same sandbox
// (through execute) in the same run: p50/p99 of the tool call as the client sees it, beside GNU grep's
// own time measured inside the sandbox (date before and after, so the execute overhead is not counted
// against the peer) and the whole execute call.
//
//   node tests/bench/search.mjs --bin build/mcpbox [--n 10]     (standalone; prints markdown)
//   import { benchSearch } from './search.mjs'; await benchSearch({ bin, dataDir, n })
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f1 = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : x < 10 ? x.toFixed(2) : x.toFixed(1));
const now = () => Number(process.hrtime.bigint()) / 1e6;

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
  await request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'search-bench', version: '1' } });
  const call = async (name, args) => {
    const r = await request('tools/call', { name, arguments: args });
    if (r.error || r.result.isError) throw new Error(`${name}: ${JSON.stringify(r.error || r.result.content).slice(0, 300)}`);
    return r.result.structuredContent;
  };
  const close = () => new Promise((resolve) => { child.on('exit', resolve); child.stdin.end(); });
  return { call, close };
}

export async function benchSearch({ bin, dataDir, n = 10 }) {
  const data = fs.mkdtempSync(path.join(dataDir, 'search-'));
  const box = await stdio(bin, data);
  const sid = (await box.call('session_create', { name: 'search' })).session_id;
  // 100 directories × 100 files of ~10 KB of source-like lines; every 200th file holds one NEEDLE line
  await box.call('execute', { session_id: sid, language: 'python', timeout_s: 300, code: [
    'import os',
    'line = "    value = compute(alpha, beta, gamma)  # lorem ipsum dolor sit amet\\n"',
    'for d in range(100):',
    '    os.makedirs(f"tree/d{d}", exist_ok=True)',
    '    for f in range(100):',
    '        i = d * 100 + f',
    '        body = line * 140',
    '        if i % 200 == 7: body += f"    NEEDLE_{i} = True\\n"',
    '        open(f"tree/d{d}/f{f}.py", "w").write(f"# file {i}\\n" + body)',
  ].join('\n') });
  const du = await box.call('execute', { session_id: sid, language: 'shell', code: 'find tree -type f | wc -l; du -sm tree | cut -f1' });
  const [files, mb] = du.stdout.trim().split('\n').map(Number);
  const pattern = 'NEEDLE_[0-9]+';
  const ours = [], peerIn = [], peerCall = [];
  let count = 0, peerCount = 0;
  for (let i = 0; i < n + 2; i++) {
    let t = now();
    const r = await box.call('grep', { session_id: sid, pattern, path: 'tree', max_results: 2000 });
    const a = now() - t;
    t = now();
    const p = await box.call('execute', { session_id: sid, language: 'shell', timeout_s: 120, code:
      `s=$(date +%s%N); grep -rnE '${pattern}' tree > /tmp/out; e=$(date +%s%N); echo $(( (e - s) / 1000 )) $(wc -l < /tmp/out)` });
    const b = now() - t;
    if (i < 2) continue; // warm-up: page cache
    ours.push(a);
    peerCall.push(b);
    const [us, lines] = p.stdout.trim().split(' ').map(Number);
    peerIn.push(us / 1000);
    count = r.count;
    peerCount = lines;
  }
  await box.call('session_destroy', { session_id: sid });
  await box.close();
  const ratio = pct(ours, 0.5) / pct(peerIn, 0.5);
  return [
    `## grep tool over a ${files.toLocaleString('en')}-file, ${mb} MB workspace`,
    '',
    `Method: a workspace of ${files} files in 100 directories (${mb} MB of ~70-byte lines), pattern \`${pattern}\` (${count} matching lines; GNU grep found ${peerCount}),`,
    `${n} runs of each after 2 warm-up runs (page cache warm), alternating. mcpbox: the \`grep\` tool call as the client sees it (path \`tree\`, max_results 2000).`,
    'Peer: `grep -rnE` of Debian\'s GNU grep run inside the same sandbox through `execute`; "inside" is grep\'s own time (date before and after, in the sandbox), "call" the whole execute call.',
    '',
    '| metric | p50 ms | p99 ms | peer | peer p50 ms | peer p99 ms | ratio | target | target met? |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |',
    `| \`grep\` tool, ${files} files / ${mb} MB | ${f1(pct(ours, 0.5))} | ${f1(pct(ours, 0.99))} | \`grep -rnE\` inside the sandbox (its own time) | ${f1(pct(peerIn, 0.5))} | ${f1(pct(peerIn, 0.99))} | ${ratio.toFixed(2)}× | ≤ 1× | ${ratio <= 1 ? 'met' : '**missed**'} |`,
    `| \`grep\` tool, ${files} files / ${mb} MB | ${f1(pct(ours, 0.5))} | ${f1(pct(ours, 0.99))} | the whole \`execute\` call running it | ${f1(pct(peerCall, 0.5))} | ${f1(pct(peerCall, 0.99))} | ${(pct(ours, 0.5) / pct(peerCall, 0.5)).toFixed(2)}× |  | — |`,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name, d) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : d; };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-search-bench-'));
  try {
    process.stdout.write(await benchSearch({ bin: path.resolve(opt('--bin', 'build/mcpbox')), dataDir: dir, n: Number(opt('--n', 10)) }) + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
