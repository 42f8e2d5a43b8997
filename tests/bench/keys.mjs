// What key rights cost a request (server/auth.c, tools/registry.c, sessions/session.c): the C parts
// per call (tests/bench/keys_bench.c: srv_auth_rights, srv_rights_allow, beside srv_auth_verify that
// every request paid before), and end to end: `tools/call session_info {session_id}` over Streamable
// HTTP with an admin user's login token (no key: no rights lookup, no scope) against the same call
// with a key of that user limited to the session (a lookup by key id per call and per session found,
// the scope and level checks), interleaved pairs on one keep-alive connection each.
//
//   node tests/bench/keys.mjs --bin build/mcpbox [--n 1000]     (standalone; prints markdown)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pct, fmt, post, pairs } from './compat.mjs';
import { serveWithAdminUser } from './users.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function rpcResult(res) {
  const t = res.text.trim();
  const data = t.startsWith('{') ? t : t.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).pop();
  return JSON.parse(data);
}

/** An MCP session over Streamable HTTP with credential cred: call(name, args) → result. */
async function mcp(port, cred) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const h = { Authorization: `Bearer ${cred}`, Accept: 'application/json, text/event-stream' };
  const init = await post(agent, port, '/mcp', h, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-keys', version: '1' } } }));
  if (init.status !== 200) throw new Error(`initialize: ${init.status} ${init.text}`);
  h['Mcp-Session-Id'] = init.headers['mcp-session-id'];
  h['MCP-Protocol-Version'] = '2025-06-18';
  await post(agent, port, '/mcp', h, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  let id = 10;
  const call = async (name, args) => {
    const r = rpcResult(await post(agent, port, '/mcp', h, JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name, arguments: args } })));
    if (!r.result || r.result.isError) throw new Error(`${name}: ${JSON.stringify(r).slice(0, 300)}`);
    return r.result.structuredContent;
  };
  return { call, agent };
}

export async function benchKeys({ bin, dataDir, n = 1000 }) {
  const make = spawnSync('make', ['--no-print-directory', '-s', 'build/bench/keys_bench'], { cwd: REPO, encoding: 'utf8', timeout: 300000 });
  if (make.status !== 0) throw new Error(`make keys_bench exited ${make.status}: ${(make.stderr || '').slice(-300)}`);
  const micro = spawnSync(path.join(REPO, 'build', 'bench', 'keys_bench'), [], { encoding: 'utf8', timeout: 120000 });
  if (micro.status !== 0) throw new Error(`keys_bench exited ${micro.status}: ${(micro.stderr || '').slice(-300)}`);

  const { box, dir, port } = await serveWithAdminUser(bin, dataDir, 'keys-');
  try {
    const login = await post(new http.Agent(), port, '/auth/login', {}, JSON.stringify({ username: 'bench', password: 'bench-password-1' }));
    const token = JSON.parse(login.text).access_token;
    const user = await mcp(port, token);
    const sid = (await user.call('session_create', {})).session_id;
    const key = (await user.call('key_create', { sessions: [{ session_id: sid, level: 'editor' }] })).key;
    const scoped = await mcp(port, key);
    const args = { session_id: sid };
    const p = await pairs(() => scoped.call('session_info', args), () => user.call('session_info', args), n);
    user.agent.destroy();
    scoped.agent.destroy();
    return [
      '## API key rights: what the checks add to a request',
      '',
      `In C (\`tests/bench/keys_bench.c\`, batches of 1,000 calls, ${os.cpus().length} cores shared):`,
      '',
      micro.stdout.trim(),
      '',
      `End to end (\`tests/bench/keys.mjs\`): ${n} pairs of \`tools/call session_info {session_id}\` over Streamable HTTP after 20 ` +
        'warm-up pairs, interleaved (alternating which goes first), each on its own keep-alive connection: an admin user\'s login ' +
        'token (no key: no rights lookup, no scope) against a key of that user limited to the session as editor (a rights lookup ' +
        'by key id for the call and for each session found, the scope and level checks).',
      '',
      '| credential | p50 ms | p99 ms |',
      '| --- | ---: | ---: |',
      `| login token (no key) | ${fmt(pct(p.b, 50))} | ${fmt(pct(p.b, 99))} |`,
      `| key limited to the session | ${fmt(pct(p.a, 50))} | ${fmt(pct(p.a, 99))} |`,
      '',
      `Key over token: p50 ${fmt(pct(p.a, 50) - pct(p.b, 50))} ms, median of the per-pair differences ${fmt(pct(p.d, 50))} ms.`,
      '',
    ].join('\n');
  } finally {
    box.kill('SIGTERM');
    await new Promise((r) => box.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (name, def) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : def; };
  const bin = path.resolve(arg('--bin', path.join(REPO, 'build', 'mcpbox')));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-bench-keys-'));
  try {
    process.stdout.write(await benchKeys({ bin, dataDir: tmp, n: Number(arg('--n', 1000)) }) + '\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
