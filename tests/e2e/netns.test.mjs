// network: true, probed as an attacker would: the internet yes; the host's loopback (mcpbox's own port
// among it), link-local (the cloud metadata address), private networks and other sessions no, unless
// the operator allows a destination (egress_allow).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServe, wsClient, makeDataDir, createKey, keyCli, IS_ROOT } from './helpers.mjs';

// Stand-ins for the world, as extra addresses of the host's lo (root only; this kernel has no dummy
// interfaces): a public address (TEST-NET-3), the metadata address, a private address the config
// allows and one it does not.
const PUBLIC = '203.0.113.7', METADATA = '169.254.169.254', ALLOWED = '192.168.77.1', PRIVATE = '192.168.77.2';
const ADDED = [];

function listen(host) {
  return new Promise((resolve, reject) => {
    const hits = { n: 0 };
    const s = net.createServer((c) => { hits.n++; c.end('hello\n'); });
    s.on('error', reject);
    s.listen(0, host, () => resolve({ server: s, port: s.address().port, hits }));
  });
}

/** From inside a session: {host:port → "CONNECTED:hello" | error name}. */
async function probe(client, sid, targets) {
  const code = `
import json, socket
out = {}
for h, p in ${JSON.stringify(targets)}:
    try:
        s = socket.create_connection((h, p), timeout=3)
        out[f"{h}:{p}"] = "CONNECTED:" + s.recv(16).decode().strip()
    except Exception as e:
        out[f"{h}:{p}"] = type(e).__name__
print(json.dumps(out))`;
  const r = await client.call('execute', { language: 'python', code, session_id: sid, timeout_s: 30 });
  assert.equal(r.isError, undefined, JSON.stringify(r).slice(0, 500));
  return JSON.parse(r.structuredContent.stdout);
}

// slirp4netns opens /dev/net/tun as the user running mcpbox (Debian: 0666; this machine: 0600)
const tunUsable = (() => { try { fs.accessSync('/dev/net/tun', fs.constants.R_OK | fs.constants.W_OK); return true; } catch { return false; } })();

test('without access to /dev/net/tun a network session fails with a message that says so', { skip: tunUsable ? 'the tun device is usable here' : false }, async () => {
  const srv = await startServe({});
  const c = await wsClient(srv);
  try {
    const r = await c.call('session_create', { network: true });
    assert.equal(r.isError, true);
    assert.match(r.content[0].text, /network sessions need read-write access to \/dev\/net\/tun/);
  } finally {
    await c.close();
    await srv.stop();
  }
});

describe('network sessions', { skip: tunUsable ? false : 'no access to /dev/net/tun' }, () => {
  let srv, client, dataDir;
  const servers = {};
  before(async () => {
    if (IS_ROOT) {
      for (const a of [PUBLIC, METADATA, ALLOWED, PRIVATE]) {
        try { execFileSync('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo'], { stdio: 'pipe' }); ADDED.push(a); } catch { /* already there */ }
      }
      for (const a of [PUBLIC, METADATA, ALLOWED, PRIVATE]) servers[a] = await listen(a);
    }
    servers.loopback = await listen('127.0.0.1');
    dataDir = makeDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ egress_allow: [`${ALLOWED}/32`] }));
    srv = await startServe({ dataDir });
    client = await wsClient(srv);
  });
  after(async () => {
    await client?.close();
    await srv?.stop();
    for (const s of Object.values(servers)) s.server.close();
    for (const a of ADDED) { try { execFileSync('ip', ['addr', 'del', `${a}/32`, 'dev', 'lo'], { stdio: 'pipe' }); } catch { /* gone */ } }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the host\'s loopback (mcpbox itself included), the metadata address and private networks are unreachable', async () => {
    const sid = (await client.call('session_create', { network: true })).structuredContent.session_id;
    const targets = [['10.0.2.2', srv.port], ['10.0.2.2', servers.loopback.port], ['127.0.0.1', servers.loopback.port],
      [METADATA, 80]];
    if (IS_ROOT) targets.push([METADATA, servers[METADATA].port], [PRIVATE, servers[PRIVATE].port]);
    const o = await probe(client, sid, targets);
    for (const [k, v] of Object.entries(o)) assert.ok(!v.startsWith('CONNECTED'), `${k} reached from a network session: ${v}`);
    assert.equal(servers.loopback.hits.n, 0);
    if (IS_ROOT) {
      assert.equal(servers[METADATA].hits.n, 0);
      assert.equal(servers[PRIVATE].hits.n, 0);
    }
    // the sandbox cannot lift the filter: it holds no capability (nft from Debian's nftables, /usr/sbin)
    const nft = await client.call('execute', { language: 'shell', code: '/usr/sbin/nft flush ruleset 2>&1; echo rc=$?', session_id: sid });
    assert.match(nft.structuredContent.stdout, /Operation not permitted[\s\S]*rc=1/, nft.structuredContent.stdout);
    const still = await probe(client, sid, [[METADATA, 80]]);
    assert.ok(!Object.values(still)[0].startsWith('CONNECTED'), 'the filter is still there');
  });

  test('the internet and allowed destinations are reachable; DNS points at user-mode networking', { skip: IS_ROOT ? false : 'needs root for the stand-in internet' }, async () => {
    const sid = (await client.call('session_create', { network: true })).structuredContent.session_id;
    const o = await probe(client, sid, [[PUBLIC, servers[PUBLIC].port], [ALLOWED, servers[ALLOWED].port]]);
    assert.equal(o[`${PUBLIC}:${servers[PUBLIC].port}`], 'CONNECTED:hello');
    assert.equal(o[`${ALLOWED}:${servers[ALLOWED].port}`], 'CONNECTED:hello', 'egress_allow opens a private address');
    const r = await client.call('execute', { language: 'shell', code: 'grep nameserver /etc/resolv.conf; ip -4 -o addr show tap0 | cut -d" " -f7', session_id: sid });
    assert.equal(r.structuredContent.stdout, 'nameserver 10.0.2.3\n10.0.2.100/24\n');
  });

  test('two network sessions cannot reach each other', async () => {
    const a = (await client.call('session_create', { network: true })).structuredContent.session_id;
    const b = (await client.call('session_create', { network: true })).structuredContent.session_id;
    // b listens on every address of its own namespace; a knows no address that leads there
    const lb = client.call('execute', { language: 'python', session_id: b, timeout_s: 10,
      code: 'import socket\ns=socket.socket()\ns.bind(("0.0.0.0",8000))\ns.listen()\ns.settimeout(4)\ntry:\n  s.accept(); print("ACCEPTED")\nexcept Exception: print("none")' });
    const o = await probe(client, a, [['10.0.2.100', 8000], ['10.0.2.2', 8000], ['127.0.0.1', 8000]]);
    for (const [k, v] of Object.entries(o)) assert.ok(!v.startsWith('CONNECTED'), `${k}: ${v}`);
    assert.equal((await lb).structuredContent.stdout, 'none\n');
  });

  test('a key made with --no-network may not ask for network; others may', async () => {
    const { key, id } = createKey(dataDir, { name: 'offline', noNetwork: true });
    const line = keyCli(dataDir, 'list').stdout.split('\n').find((l) => l.includes(id));
    assert.match(line, /offline\s+no\s+no\s/, `key list: ADMIN no, NETWORK no: ${line}`);
    const off = await wsClient(srv, { key });
    try {
      const r = await off.call('session_create', { network: true });
      assert.equal(r.isError, true);
      assert.match(r.content[0].text, /this API key may not ask for network/);
      assert.equal((await off.call('session_create', {})).isError, undefined, 'a session without network is fine');
      assert.equal((await off.call('execute', { language: 'shell', code: 'true' })).isError, undefined);
    } finally {
      await off.close();
    }
  });

  test('a session without network has only loopback, and no helper process runs for it', async () => {
    const sid = (await client.call('session_create', {})).structuredContent.session_id;
    const r = await client.call('execute', { language: 'python', session_id: sid, code: 'import socket\nprint([n for _, n in socket.if_nameindex()])' });
    assert.equal(r.structuredContent.stdout, "['lo']\n");
  });
});
