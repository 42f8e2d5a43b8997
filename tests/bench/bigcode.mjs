// The server's memory for a burst of executes with large code (issue 11): WebSocket clients (the SDK's) of
// one key each send P executes of MB megabytes of python at once, every program sleeping S s so
// that they overlap. Prints JSON: the server's peak RSS (VmHWM) and RSS before, how many ran with
// the right output and how many were refused (quota.code).
// Usage: node --experimental-websocket bigcode.mjs BIN [connections=8] [per=8] [mb=30] [sleep_s=30]
import fs from 'node:fs';

const [bin, conns = '8', per = '8', mb = '30', secs = '30'] = process.argv.slice(2);
if (bin) process.env.MCPBOX_BIN = fs.realpathSync(bin);
const { startServe, wsClient, createKey } = await import('../e2e/helpers.mjs');
const kb = (pid, f) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const srv = await startServe();
const key = createKey(srv.dataDir, { name: 'bigcode' }).key;
const clients = [];
for (let c = 0; c < Number(conns); c++) clients.push(await wsClient(srv, { key }));
const sids = [];
for (const cl of clients) sids.push((await cl.call('session_create', { memory_mb: 2048 })).structuredContent.session_id);
const before = kb(srv.pid, 'VmRSS');
const tail = '#' + 'x'.repeat(Number(mb) * 1e6) + '\n';
const t0 = Date.now();
const calls = [];
clients.forEach((cl, c) => {
  for (let i = 0; i < Number(per); i++) {
    const tag = `${c}.${i}`;
    calls.push(cl.call('execute', { session_id: sids[c], language: 'python', timeout_s: 600, wait_s: 600,
      code: `import time\ntime.sleep(${secs})\nprint('ran ${tag}')\n` + tail }, { timeout: 900000 })
      .then((r) => (r.structuredContent?.stdout === `ran ${tag}\n` ? 'ok' : /quota\.(server_)?code/.test(r.content?.[0]?.text) ? 'refused' : 'wrong: ' + JSON.stringify(r).slice(0, 300)),
        (e) => 'error: ' + e.message));
  }
});
const outcomes = await Promise.all(calls);
const count = (w) => outcomes.filter((o) => o === w).length;
console.log(JSON.stringify({ executes: calls.length, code_mb: Number(mb), sleep_s: Number(secs), connections: Number(conns),
  rss_before_mb: Math.round(before / 1024), peak_rss_mb: Math.round(kb(srv.pid, 'VmHWM') / 1024), ok: count('ok'),
  refused: count('refused'), wrong: outcomes.filter((o) => o !== 'ok' && o !== 'refused').slice(0, 3), seconds: (Date.now() - t0) / 1000 }));
for (const cl of clients) await cl.close();
await srv.close();
