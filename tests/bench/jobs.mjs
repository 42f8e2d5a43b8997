// Background jobs (sessions/job.c): how long `execute {background: true}` takes to answer, beside
// a foreground `execute` of the same program, and a job's whole life (start, job_wait), over stdio.
//
//   node tests/bench/jobs.mjs [--bin build/mcpbox] [--n 100]     (standalone; prints markdown)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStdio } from './display.mjs';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f2 = (x) => x.toFixed(2);

export async function benchJobs({ bin, dataDir, n = 100 }) {
  const own = !dataDir;
  dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-bench-jobs-'));
  const c = await startStdio(bin, dataDir);
  const fg = [], bg = [], life = [];
  try {
    const sid = (await c.call('session_create', {})).structuredContent.session_id;
    for (let i = 0; i < 10; i++) await c.call('execute', { session_id: sid, language: 'shell', code: 'true' });
    for (let i = 0; i < n; i++) {	// alternated, so load hits both alike
      fg.push((await c.timed('execute', { session_id: sid, language: 'shell', code: 'true' }))[0]);
      const t0 = performance.now();
      const r = await c.call('execute', { session_id: sid, language: 'shell', code: 'true', background: true });
      bg.push(performance.now() - t0);
      await c.call('job_wait', { job_id: r.structuredContent.job_id, timeout_s: 30 });
      life.push(performance.now() - t0);
    }
  } finally {
    await c.close();
    if (own) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return [
    '## Background jobs',
    '',
    `\`execute\` of shell \`true\` over stdio (\`tests/bench/jobs.mjs\`, n = ${n}, alternated), ${os.cpus().length} CPUs.`,
    '',
    '| what | p50 ms | p99 ms |',
    '|---|---:|---:|',
    `| foreground \`execute\` (answers when it ends) | ${f2(pct(fg, 0.5))} | ${f2(pct(fg, 0.99))} |`,
    `| \`execute {background: true}\` (answers with the job_id) | ${f2(pct(bg, 0.5))} | ${f2(pct(bg, 0.99))} |`,
    `| background start + \`job_wait\` until it ended | ${f2(pct(life, 0.5))} | ${f2(pct(life, 0.99))} |`,
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
  process.stdout.write(await benchJobs({ bin: path.resolve(arg('--bin', 'build/mcpbox')), n: Number(arg('--n', 100)) }) + '\n');
}
