// Users and login tokens (server/users.c, server/jwt.c): POST /auth/login (an argon2id check on the
// pool, then a signed token), and what a request authenticated by a token costs beside the same
// request with an API key: GET /metrics as an admin key and as an admin user's token, interleaved on
// one keep-alive connection each, so the difference is the verification (HMAC-SHA256, the JSON of
// the claims, the user's row).
//
//   node tests/bench/users.mjs --bin build/mcpbox [--n 1000]     (standalone; prints markdown)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pct, fmt, waitFor, post, get, pairs } from './compat.mjs';

const now = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * `mcpbox serve` on a new data directory under dataDir with an admin user "bench" (password
 * "bench-password-1"): {box, dir, port, key} (key: the first admin key). The caller kills box, removes dir.
 */
export async function serveWithAdminUser(bin, dataDir, prefix) {
  const dir = fs.mkdtempSync(path.join(dataDir, prefix));
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  const add = spawnSync(bin, ['user', 'add', 'bench', '--admin', '--password-stdin', '--data', data], { input: 'bench-password-1\n', encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`user add: ${add.stderr}`);
  const box = spawn(bin, ['serve', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = await waitFor(box, /^\s+mcpbox_\S+\s*$/m).catch((e) => { box.kill('SIGKILL'); throw e; });
  const port = Number(new URL(/serving MCP at (http:\/\/\S+\/mcp)/.exec(out)[1]).port);
  return { box, dir, port, key: /^\s+(mcpbox_\S+)\s*$/m.exec(out)[1] };
}

export async function benchUsers({ bin, dataDir, n = 1000, logins = 30 }) {
  const { box, dir, port, key } = await serveWithAdminUser(bin, dataDir, 'users-');
  try {
    const loginAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ username: 'bench', password: 'bench-password-1' });
    const times = [];
    let token;
    for (let i = 0; i < logins + 3; i++) {
      const t0 = now();
      const r = await post(loginAgent, port, '/auth/login', {}, body);
      if (r.status !== 200) throw new Error(`login: ${r.status} ${r.text}`);
      if (i >= 3) times.push(now() - t0);
      token = JSON.parse(r.text).access_token;
    }
    const keyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const jwtAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const as = (agent, cred) => async () => {
      const r = await get(agent, port, '/metrics', { Authorization: `Bearer ${cred}` });
      if (r.status !== 200) throw new Error(`GET /metrics: ${r.status} ${r.text}`);
    };
    const p = await pairs(as(jwtAgent, token), as(keyAgent, key), n);
    for (const a of [loginAgent, keyAgent, jwtAgent]) a.destroy();
    const over = pct(p.a, 50) - pct(p.b, 50);
    return [
      '## Users and login tokens',
      '',
      `\`mcpbox serve\`, ${os.cpus().length} cores shared with the client (\`tests/bench/users.mjs\`). Login: ${logins} sequential ` +
        '`POST /auth/login` after 3 warm-up ones (argon2id, 2 passes over 64 MiB, on libuv\'s pool). Overhead: ' +
        `${n} pairs of \`GET /metrics\` after 20 warm-up pairs, one with an admin user's token and one with an admin API key, ` +
        'interleaved (alternating which goes first), each on its own keep-alive connection.',
      '',
      '| what | p50 ms | p99 ms |',
      '| --- | ---: | ---: |',
      `| \`POST /auth/login\` (right password) | ${fmt(pct(times, 50))} | ${fmt(pct(times, 99))} |`,
      `| \`GET /metrics\` with a token | ${fmt(pct(p.a, 50))} | ${fmt(pct(p.a, 99))} |`,
      `| \`GET /metrics\` with an API key | ${fmt(pct(p.b, 50))} | ${fmt(pct(p.b, 99))} |`,
      '',
      `Token over key: p50 ${fmt(over)} ms, median of the per-pair differences ${fmt(pct(p.d, 50))} ms ` +
        `(target ≤ 0.05 ms: ${over <= 0.05 && pct(p.d, 50) <= 0.05 ? 'met' : '**missed**'}).`,
      '',
    ].join('\n');
  } finally {
    box.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-users-'));
  benchUsers({ bin: path.resolve(arg('--bin', 'build/mcpbox')), dataDir: dir, n: Number(arg('--n', 1000)) })
    .then((md) => { console.log(md); fs.rmSync(dir, { recursive: true, force: true }); process.exit(0); })
    .catch((e) => { console.error(e); process.exit(1); });
}
