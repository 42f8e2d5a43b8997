// Users and login tokens: `mcpbox user add|list|passwd|disable|enable|role`, POST /auth/login, the token as
// "Authorization: Bearer" for MCP over Streamable HTTP (the SDK client) and over WebSocket (the `ws`
// package, which can send headers), refusals (wrong password, disabled user, old password, forged and
// expired tokens), the failure backoff, and what an admin user's token sees (/metrics server-wide).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startServe, httpClient, httpRequest, textOf, BIN, PROTOCOL_LATEST } from './helpers.mjs';

/** `mcpbox user ARGS... --data DIR` with input on stdin: {status, stdout, stderr}. */
function userCli(dataDir, input, ...args) {
  const r = spawnSync(BIN, ['user', ...args, '--data', dataDir], { input, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function addUser(dataDir, name, password, ...flags) {
  const r = userCli(dataDir, `${password}\n`, 'add', name, ...flags, '--password-stdin');
  assert.equal(r.status, 0, `user add ${name}: ${r.stderr}`);
}
const login = (srv, username, password, headers = {}, localAddress = undefined) =>
  httpRequest(srv, { path: '/auth/login', headers: { 'Content-Type': 'application/json', ...headers }, body: { username, password }, localAddress });

async function token(srv, username, password) {
  const r = await login(srv, username, password);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.token_type, 'bearer');
  assert.equal(r.json.expires_in, 3600);
  assert.match(r.json.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  return r.json.access_token;
}
const metricsAs = (srv, key) => httpRequest(srv, { method: 'GET', path: '/metrics', headers: { Authorization: `Bearer ${key}` } });

/** One JSON-RPC exchange after another over a WebSocket opened with an Authorization header. */
function wsWithHeader(srv, bearer) {
  const ws = new WebSocket(srv.url.replace(/^http/, 'ws'), 'mcp', { headers: { Authorization: `Bearer ${bearer}` } });
  const waiting = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const rpc = (id, method, params) => new Promise((resolve) => {
    waiting.set(id, resolve);
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  });
  return { ws, opened, rpc };
}

/** A token signed with a secret of our own choosing, in the server's format (forgeries). */
function forge(secret, header, payload) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b(header)}.${b(payload)}`;
  return `${body}.${crypto.createHmac('sha256', secret).update(body).digest('base64url')}`;
}
const claimsOf = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

describe('users and login tokens', () => {
  let srv;
  before(async () => {
    srv = await startServe();
    addUser(srv.dataDir, 'alice', 'alice-password-1');
    addUser(srv.dataDir, 'boss', 'boss-password-1', '--admin');
    addUser(srv.dataDir, 'carol', 'carol-password-1');
  });
  after(async () => { await srv?.close(); });

  test('user list shows users and roles, never hashes; the secret file is private', () => {
    const r = userCli(srv.dataDir, '', 'list');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^alice\s+user\s/m);
    assert.match(r.stdout, /^boss\s+admin\s/m);
    assert.doesNotMatch(r.stdout, /argon2/);
    const st = fs.statSync(path.join(srv.dataDir, 'jwt.secret'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.size, 32);
    assert.equal(userCli(srv.dataDir, 'x\n', 'add', 'alice', '--password-stdin').status, 1, 'a second alice is refused');
    assert.equal(userCli(srv.dataDir, 'short\n', 'add', 'dave', '--password-stdin').status, 1, 'a short password is refused');
    assert.equal(userCli(srv.dataDir, '', 'add', 'dave', 'pw').status, 2, 'a password on the command line is a usage error');
  });

  test('the CLI says what it did, and mcpbox --help names every user command', () => {
    const r = userCli(srv.dataDir, 'cliuser-password-1\n', 'add', 'cliuser', '--password-stdin');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^mcpbox: added cliuser \(role user\)$/m);
    const help = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
    const text = help.stdout + help.stderr;
    for (const cmd of ['add', 'list', 'passwd', 'disable', 'enable', 'role']) assert.match(text, new RegExp(`user ${cmd}\\b`), `--help: user ${cmd}`);
  });

  test('login → token used as Bearer for MCP over Streamable HTTP (the SDK client)', async () => {
    const t = await token(srv, 'alice', 'alice-password-1');
    const c = claimsOf(t);
    assert.equal(c.sub, 'alice');
    assert.equal(c.role, 'user');
    assert.match(c.iss, /^mcpbox:[0-9a-f]{16}$/);
    assert.equal(c.exp - c.iat, 3600);
    const cl = await httpClient(srv, { key: t });
    try {
      const r = await cl.call('execute', { language: 'bash', code: 'echo hi-from-$((40+2))' });
      assert.ok(!r.isError, textOf(r));
      assert.match(textOf(r), /hi-from-42/);
    } finally { await cl.close(); }
  });

  test('the token works over WebSocket with an Authorization header', async () => {
    const t = await token(srv, 'alice', 'alice-password-1');
    const w = wsWithHeader(srv, t);
    try {
      await w.opened;
      const init = await w.rpc(1, 'initialize', { protocolVersion: PROTOCOL_LATEST, capabilities: {}, clientInfo: { name: 'ws-jwt', version: '1' } });
      assert.ok(init.result, JSON.stringify(init));
      const list = await w.rpc(2, 'tools/list', {});
      assert.ok(list.result.tools.some((x) => x.name === 'execute'));
    } finally { w.ws.close(); }
    const bad = wsWithHeader(srv, `${t.slice(0, -2)}xx`);
    await assert.rejects(bad.opened, /401/);
  });

  test('a wrong password is a 401 that does not say whether the user exists', async () => {
    const a = await login(srv, 'alice', 'wrong-password');
    const b = await login(srv, 'nobody-here', 'wrong-password');
    assert.equal(a.status, 401);
    assert.equal(b.status, 401);
    assert.deepEqual(a.json, b.json);
    assert.equal((await login(srv, 'alice', '')).status, 401);
    const bad = await httpRequest(srv, { path: '/auth/login', headers: { 'Content-Type': 'application/json' }, body: '{"username": 1}' });
    assert.equal(bad.status, 400);
  });

  test('repeated failures from one address back off with 429 and Retry-After; the right user elsewhere is not affected', async () => {
    const name = 'carol';
    let limited;
    for (let i = 0; i < 8 && !limited; i++) {
      const r = await login(srv, name, `wrong-${i}`);
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(limited, 'no 429 after 8 failures');
    assert.match(limited.headers['retry-after'], /^\d+$/);
    // even the right password waits now
    assert.equal((await login(srv, name, 'carol-password-1')).status, 429);
    // another user from the same address logs in
    assert.equal((await login(srv, 'alice', 'alice-password-1')).status, 200);
  });

  test('an admin user sees /metrics server-wide; a plain user does not', async () => {
    const admin = await metricsAs(srv, await token(srv, 'boss', 'boss-password-1'));
    const plain = await metricsAs(srv, await token(srv, 'alice', 'alice-password-1'));
    assert.equal(admin.status, 200);
    assert.equal(plain.status, 200);
    assert.match(admin.text, /mcpbox_connections\{transport="http"\}/);
    assert.doesNotMatch(plain.text, /mcpbox_connections\{transport="http"\}/);
  });

  test('forged, expired and wrong-issuer tokens are refused', async () => {
    const t = await token(srv, 'alice', 'alice-password-1');
    const c = claimsOf(t);
    const other = crypto.randomBytes(32);
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      forge(other, { alg: 'HS256', typ: 'JWT' }, c),
      forge(other, { alg: 'none' }, { ...c, sub: 'boss', role: 'admin' }).replace(/[^.]+$/, ''),
      `${t.split('.')[0]}.${Buffer.from(JSON.stringify({ ...c, role: 'admin', sub: 'boss' })).toString('base64url')}.${t.split('.')[2]}`,
    ];
    // the server's own secret (the test reads the data dir, as an operator could) makes real-looking ones
    const secret = fs.readFileSync(path.join(srv.dataDir, 'jwt.secret'));
    bad.push(forge(secret, { alg: 'HS256', typ: 'JWT' }, { ...c, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }));
    bad.push(forge(secret, { alg: 'HS256', typ: 'JWT' }, { ...c, iss: 'mcpbox:0000000000000000' }));
    bad.push(forge(secret, { alg: 'HS256', typ: 'JWT' }, { ...c, nbf: now + 600 }));
    for (const b of bad) assert.equal((await metricsAs(srv, b)).status, 401, `accepted: ${b}`);
    const good = forge(secret, { alg: 'HS256', typ: 'JWT' }, c);
    assert.equal((await metricsAs(srv, good)).status, 200, 'the forger itself is right');
  });

  test('user passwd: the new password works, the old one and its tokens do not', async () => {
    addUser(srv.dataDir, 'erin', 'erin-password-1');
    const old = await token(srv, 'erin', 'erin-password-1');
    assert.equal((await metricsAs(srv, old)).status, 200);
    const r = userCli(srv.dataDir, 'erin-password-2\n', 'passwd', 'erin', '--password-stdin');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((await metricsAs(srv, old)).status, 401, 'a token from before the change');
    assert.equal((await login(srv, 'erin', 'erin-password-1')).status, 401);
    assert.equal((await metricsAs(srv, await token(srv, 'erin', 'erin-password-2'))).status, 200);
  });

  test('user disable: the token stops working at once, and the login fails like a wrong password', async () => {
    addUser(srv.dataDir, 'frank', 'frank-password-1');
    const t = await token(srv, 'frank', 'frank-password-1');
    const cl = await httpClient(srv, { key: t });
    try {
      assert.ok(!(await cl.call('session_list', {})).isError);
      const r = userCli(srv.dataDir, '', 'disable', 'frank');
      assert.equal(r.status, 0, r.stderr);
      assert.equal((await metricsAs(srv, t)).status, 401);
      await assert.rejects(cl.call('session_list', {}), /401|Unauthorized/i);
    } finally { await cl.close(); }
    const l = await login(srv, 'frank', 'frank-password-1');
    assert.equal(l.status, 401);
    assert.deepEqual(l.json, (await login(srv, 'nobody-here', 'x-password')).json);
    assert.match(userCli(srv.dataDir, '', 'list').stdout, /^frank\s+user\s+\S+\s+\d{4}-/m);
  });

  test('user role: a role change applies to the next request of a token already issued; user enable', async () => {
    addUser(srv.dataDir, 'hank', 'hank-password-1');
    const t = await token(srv, 'hank', 'hank-password-1');
    const serverWide = async () => {
      const m = await metricsAs(srv, t);
      assert.equal(m.status, 200, m.text);
      return /mcpbox_connections\{transport="http"\}/.test(m.text);
    };
    assert.equal(await serverWide(), false, 'an ordinary user sees no server-wide metrics');
    let r = userCli(srv.dataDir, '', 'role', 'hank', 'admin');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await serverWide(), true, 'promoted: the same token is an admin\'s now');
    assert.match(userCli(srv.dataDir, '', 'list').stdout, /^hank\s+admin\s/m);
    r = userCli(srv.dataDir, '', 'role', 'hank', 'admin');
    assert.equal(r.status, 1, 'nothing to change is an error');
    assert.match(r.stderr, /hank has that role already/);
    assert.equal(userCli(srv.dataDir, '', 'role', 'hank', 'root').status, 2, 'an unknown role is a usage error');
    assert.equal(userCli(srv.dataDir, '', 'role', 'nobody-here', 'admin').status, 1);
    assert.equal(userCli(srv.dataDir, '', 'role', 'hank', 'user').status, 0);
    assert.equal(await serverWide(), false, 'demoted at once');
    // disable, then enable: logins work again, the token from before the disable does not
    assert.equal(userCli(srv.dataDir, '', 'disable', 'hank').status, 0);
    assert.equal((await login(srv, 'hank', 'hank-password-1')).status, 401);
    r = userCli(srv.dataDir, '', 'enable', 'hank');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(userCli(srv.dataDir, '', 'enable', 'hank').status, 1, 'enabled already');
    assert.equal((await metricsAs(srv, t)).status, 401, 'tokens from before the disable stay refused');
    assert.equal((await login(srv, 'hank', 'hank-password-1')).status, 200);
  });

  test('user disable closes an open WebSocket on its next message', async () => {
    addUser(srv.dataDir, 'gus', 'gus-password-1');
    const w = wsWithHeader(srv, await token(srv, 'gus', 'gus-password-1'));
    try {
      await w.opened;
      const init = await w.rpc(1, 'initialize', { protocolVersion: PROTOCOL_LATEST, capabilities: {}, clientInfo: { name: 'ws-jwt', version: '1' } });
      assert.ok(init.result);
      assert.equal(userCli(srv.dataDir, '', 'disable', 'gus').status, 0);
      const closed = new Promise((resolve) => w.ws.once('close', (code) => resolve(code)));
      w.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }));
      assert.equal(await closed, 1008);
    } finally { w.ws.terminate(); }
  });
});

describe('serve --admin-user', () => {
  test('makes a super_admin with a random password shown once; a restart keeps it and shows nothing', async () => {
    let srv = await startServe({ extraArgs: ['--admin-user', 'chief'] });
    const dataDir = srv.dataDir;
    try {
      const m = /^\s+password: (\S+)\s*$/m.exec(srv.stdout);
      assert.ok(m, `no password in: ${srv.stdout}`);
      assert.ok(m[1].length >= 32, 'a long random password');
      assert.match(userCli(dataDir, '', 'list').stdout, /^chief\s+super_admin\s/m);
      const t = await token(srv, 'chief', m[1]);
      assert.match((await metricsAs(srv, t)).text, /mcpbox_connections\{transport="http"\}/, 'an administrator');
      await srv.close({ keepData: true });
      srv = await startServe({ dataDir, extraArgs: ['--admin-user', 'chief'], key: 'unused' });
      assert.doesNotMatch(srv.stdout, /password:/);
      assert.equal((await login(srv, 'chief', m[1])).status, 200, 'the same password still works');
    } finally {
      await srv.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('no user exists unless one is asked for', async () => {
    const srv = await startServe();
    try {
      assert.doesNotMatch(srv.stdout, /password:/);
      assert.match(userCli(srv.dataDir, '', 'list').stderr, /no users yet/);
      for (const [u, p] of [['admin', 'admin'], ['admin', 'password'], ['root', 'root']]) {
        assert.equal((await login(srv, u, p)).status, 401, `${u}/${p}`);
      }
    } finally { await srv.close(); }
  });
});

// A server of its own: these tests make 127.0.0.1 wait, which the tests above must not see.
describe('login abuse from one address', () => {
  let srv;
  before(async () => {
    srv = await startServe();
    addUser(srv.dataDir, 'ivy', 'ivy-password-1');
  });
  after(async () => { await srv?.close(); });

  test('one address checks at most two passwords at once; the others wait their turn', async () => {
    const all = await Promise.all([0, 1, 2, 3].map(() => login(srv, 'ivy', 'ivy-password-1')));
    const busy = all.filter((r) => r.status === 429);
    assert.ok(busy.length >= 1, `four at once from one address: ${all.map((r) => r.status)}`);
    for (const r of busy) assert.match(r.text, /in progress/);
    assert.ok(all.some((r) => r.status === 200), `${all.map((r) => r.status)}`);
  });

  test('many names tried from one address back off that address, not another', async () => {
    let limited;
    for (let i = 0; i < 60 && !limited; i++) {
      const r = await login(srv, `guess-${i}`, 'not-the-password');
      if (r.status === 429) limited = { r, i };
      else assert.equal(r.status, 401, r.text);
    }
    assert.ok(limited, 'no 429 after 60 failures with 60 different names');
    assert.ok(limited.i >= 50, `the address backs off after 50 failures, not ${limited.i}`);
    assert.match(limited.r.text, /too many failed logins/);
    assert.equal((await login(srv, 'ivy', 'ivy-password-1')).status, 429, 'even a right password waits on that address');
    const other = await login(srv, 'ivy', 'ivy-password-1', {}, '127.0.0.2');
    assert.equal(other.status, 200, `another address is not affected: ${other.text}`);
  });
});
