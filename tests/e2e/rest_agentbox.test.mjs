// Dialect 003, AgentBox (server/rest/agentbox*.c): the document's exchanges after a login
// (fixtures/compat/agentbox.json) under /api/v1 and /compat/agentbox/api/v1, its complete bash
// workflow (curl + jq) run unchanged, Go's bytes, the twin's validator messages, what mcpbox refuses
// to pretend, label selectors, exec without a shell, async runs, logs (and their SSE stream), and
// abuse: forged, expired and wrong-issuer tokens, a revoked key, other principals, limits.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { startServe, httpClient, createKey, keyCli, httpRequest, textOf, BIN, REPO, IS_ROOT, sleep } from './helpers.mjs';
import WebSocket from 'ws';
import { loadCompat, assertExchange, runShell } from './compat.mjs';

const fixture = loadCompat('agentbox');
// the document's "Complete Workflow Example", copied as it is
const workflow = fs.readFileSync(path.join(REPO, 'fixtures', 'compat', 'agentbox_workflow.sh'), 'utf8');

function addUser(dataDir, name, password, ...flags) {
  const r = spawnSync(BIN, ['user', 'add', name, ...flags, '--password-stdin', '--data', dataDir], { input: `${password}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function api(srv, token, method, p, body, headers = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  return httpRequest(srv, { method, path: p, headers: h, body, timeout: 60000 });
}

async function login(srv, username, password) {
  const r = await api(srv, null, 'POST', '/api/v1/auth/login', { username, password });
  assert.equal(r.status, 200, r.text);
  return r.json.token;
}

function assertError(res, status, error, message) {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.json), ['error', 'message', 'code'], res.text);
  assert.equal(res.json.code, status);
  if (error instanceof RegExp) assert.match(res.json.error, error);
  else if (error !== undefined) assert.equal(res.json.error, error, res.text);
  if (message !== undefined) {
    if (message instanceof RegExp) assert.match(res.json.message, message);
    else assert.equal(res.json.message, message, res.text);
  }
}

const ENV = (name, extra = {}) => ({ name, image: 'python:3.11-slim', resources: { cpu: '500m', memory: '256Mi', storage: '1Gi' }, ...extra });

/** A token signed with secret, in the server's format. */
function forge(secret, payload) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b({ alg: 'HS256', typ: 'JWT' })}.${b(payload)}`;
  return `${body}.${crypto.createHmac('sha256', secret).update(body).digest('base64url')}`;
}
const claimsOf = (t) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

describe('REST dialect 003: AgentBox', () => {
  let srv, alice, bob;
  before(async () => {
    // the document's limits (20 creations a minute...) would refuse this suite's own pace
    // pool_size is the default, said here because /pool/status answers it
    srv = await startServe({ config: { pool_size: 2, compat: { agentbox: { rate_limits: { auth: 1000, create: 1000, exec: 10000, other: 10000 } } } } });
    addUser(srv.dataDir, 'alice', 'alice-password-1');
    addUser(srv.dataDir, 'bob', 'bob-password-1');
    alice = await login(srv, 'alice', 'alice-password-1');
    bob = await login(srv, 'bob', 'bob-password-1');
  });
  after(async () => { await srv?.close(); });

  for (const prefix of ['/api/v1', '/compat/agentbox/api/v1']) {
    test(`the document's exchanges, in order, under ${prefix}`, async () => {
      const saved = { username: 'alice', password: 'alice-password-1' };
      const fill = (v) => JSON.parse(JSON.stringify(v).replace(/\{(\w+)\}/g, (m, k) => saved[k] ?? m));
      for (const ex of fixture.exchanges) {
        const req = fill(ex.request);
        const res = await api(srv, req.auth ? saved.token : null, req.method, prefix + req.path, req.body);
        if (ex.response.status === 204) {
          assert.equal(res.status, 204, `${ex.name}: ${res.text}`);
          assert.equal(res.text, '');
          continue;
        }
        assertExchange(res, fill(ex.response), ex.name);
        // Go's encoder: one JSON value and a newline
        assert.ok(res.text.endsWith('}\n'), `${ex.name}: Go's trailing newline`);
        assert.equal(res.headers['content-type']?.split(';')[0], 'application/json');
        for (const [k, from] of Object.entries(ex.save || {})) saved[k] = res.json[from];
        if (ex.name === 'create an environment') {
          assert.equal(res.json.endpoint, `ws://${srv.base.replace(/^http:\/\//, '')}${prefix}/environments/${res.json.id}/attach`);
          assert.equal(res.json.namespace, `agentbox-${res.json.id}`);
          // the document's field order (Go's struct order)
          assert.deepEqual(Object.keys(res.json).slice(0, 4), ['id', 'name', 'status', 'image']);
        }
      }
    });
  }

  test('the document\'s complete bash workflow runs unchanged after a login', async () => {
    assert.match(workflow, /SERVER="https:\/\/your-server\/api\/v1"/);
    const script = workflow
      .replace('SERVER="https://your-server/api/v1"', `SERVER="${srv.base}/api/v1"`)
      .replace('TOKEN="your-jwt-token"', `TOKEN="${alice}"`);
    const file = path.join(srv.dataDir, 'workflow.sh');
    fs.writeFileSync(file, script);
    const r = await runShell(`bash -e ${file}`, { base: srv.base });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.stdout;
    const envId = /Created environment: (\S+)/.exec(out)?.[1];
    assert.ok(envId && envId !== 'null', out);
    assert.match(out, /Environment is running!/);
    // both exec answers came back as JSON with an exit code (pip has no network here: its failure is an answer too)
    assert.match(out, /"exit_code": \d+/);
    assert.match(out, /"logs": \[/);
    assert.match(out, /Done!/);
    // the environment is gone
    const gone = await api(srv, alice, 'GET', `/api/v1/environments/${envId}`);
    assertError(gone, 404, 'environment not found');
  });

  test('errors: the twin\'s 401 messages, bad JSON, bodies over the limit, unknown paths', async () => {
    const noauth = await api(srv, null, 'GET', '/api/v1/environments');
    assertError(noauth, 401, 'unauthorized', 'missing authorization header');
    const basic = await api(srv, null, 'GET', '/api/v1/environments', undefined, { Authorization: 'Basic eDp5' });
    assertError(basic, 401, 'unauthorized', 'invalid authorization header format');
    const three = await api(srv, null, 'GET', '/api/v1/environments', undefined, { Authorization: 'Bearer a b' });
    assertError(three, 401, 'unauthorized', 'invalid authorization header format');
    const wrong = await api(srv, 'mcpbox_nope', 'GET', '/api/v1/environments');
    assertError(wrong, 401, 'unauthorized', 'invalid token or API key');
    const xkey = await api(srv, null, 'GET', '/api/v1/environments', undefined, { 'X-API-Key': 'mcpbox_nope' });
    assertError(xkey, 401, 'unauthorized', 'invalid API key');
    // a real key in X-API-Key works, and wins over a bad Authorization
    const good = await api(srv, 'bad', 'GET', '/api/v1/environments', undefined, { 'X-API-Key': srv.key });
    assert.equal(good.status, 200, good.text);

    const bad = await httpRequest(srv, { method: 'POST', path: '/api/v1/environments', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: '{"name": ' });
    assertError(bad, 400, 'invalid request body');
    const arr = await api(srv, alice, 'POST', '/api/v1/environments', []);
    assertError(arr, 400, 'invalid request body');
    const big = await api(srv, alice, 'POST', '/api/v1/environments', { ...ENV('big'), env: { X: 'x'.repeat(1100000) } });
    assert.ok([400, 413].includes(big.status), big.text.slice(0, 200));
    if (big.status === 400) assertError(big, 400, 'invalid request body', 'http: request body too large');
    const made = await api(srv, alice, 'POST', '/api/v1/environments', ENV('limits'));
    const bigExec = await api(srv, alice, 'POST', `/api/v1/environments/${made.json.id}/exec`, { command: ['x'.repeat(70000)] });
    assertError(bigExec, 400, 'invalid request body', 'http: request body too large');
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${made.json.id}`)).status, 204);
    const none = await api(srv, alice, 'GET', '/api/v1/nowhere');
    assert.equal(none.status, 404);
    assert.equal(none.json.code, 404);
    const compatNone = await api(srv, alice, 'GET', '/compat/agentbox/api/v1/nowhere');
    assertError(compatNone, 404, 'not found');
    // /api/v1 is shared with dialect 000: its envelope still answers its own paths
    const mgr = await httpRequest(srv, { method: 'GET', path: '/api/v1/sandboxes', headers: { 'X-API-KEY': srv.key } });
    assert.equal(mgr.json.success, true, mgr.text);
  });

  test('the validator: every rule of the twin, with its message', async () => {
    const cases = [
      [{ image: 'python:3.11-slim', resources: { cpu: '1', memory: '1Gi', storage: '1Gi' } }, 'name is required'],
      [ENV('My_Env'), 'name must be lowercase alphanumeric with hyphens'],
      [ENV('-bad'), 'name must be lowercase alphanumeric with hyphens'],
      [ENV('a'.repeat(64)), 'name must be 63 characters or less'],
      [{ name: 'x', resources: { cpu: '1', memory: '1Gi', storage: '1Gi' } }, 'image is required'],
      [ENV('x', { resources: { memory: '1Gi', storage: '1Gi' } }), 'invalid resources: cpu is required'],
      [ENV('x', { resources: { cpu: '0.5', memory: '1Gi', storage: '1Gi' } }), 'invalid resources: invalid cpu format: invalid format (expected: 100m or 1)'],
      [ENV('x', { resources: { cpu: '20', memory: '1Gi', storage: '1Gi' } }), 'invalid resources: cpu exceeds maximum allowed (10000m)'],
      [ENV('x', { resources: { cpu: '0m', memory: '1Gi', storage: '1Gi' } }), 'invalid resources: cpu must be positive'],
      [ENV('x', { resources: { cpu: '1', storage: '1Gi' } }), 'invalid resources: memory is required'],
      [ENV('x', { resources: { cpu: '1', memory: '1GB', storage: '1Gi' } }), 'invalid resources: invalid memory format: invalid format (expected: 512Mi, 1Gi, etc)'],
      [ENV('x', { resources: { cpu: '1', memory: '11Gi', storage: '1Gi' } }), `invalid resources: memory exceeds maximum allowed (${10 * 2 ** 30} bytes)`],
      [ENV('x', { resources: { cpu: '1', memory: '1Gi' } }), 'invalid resources: storage is required'],
      [ENV('x', { resources: { cpu: '1', memory: '1Gi', storage: '1Pi' } }), 'invalid resources: invalid storage format: invalid format (expected: 1Gi, 5Gi, etc)'],
      [ENV('x', { resources: { cpu: '1', memory: '1Gi', storage: '101Gi' } }), `invalid resources: storage exceeds maximum allowed (${100 * 2 ** 30} bytes)`],
      [ENV('x', { timeout: 86401 }), 'timeout exceeds maximum allowed (86400 seconds)'],
      [ENV('x', { timeout: -1 }), 'timeout cannot be negative'],
      [ENV('x', { env: { '': 'v' } }), 'environment variable name cannot be empty'],
      [ENV('x', { labels: { '': 'v' } }), 'label key cannot be empty'],
      [ENV('x', { labels: { ['k'.repeat(64)]: 'v' } }), 'label key must be 63 characters or less'],
      [ENV('x', { labels: { k: 'v'.repeat(64) } }), 'label value must be 63 characters or less'],
      [ENV('x', { node_selector: { '': 'v' } }), 'node selector key cannot be empty'],
      [ENV('x', { node_selector: { ['k'.repeat(254)]: 'v' } }), 'node selector key must be 253 characters or less'],
      [ENV('x', { node_selector: { k: 'v'.repeat(64) } }), 'node selector value must be 63 characters or less'],
      [ENV('x', { tolerations: [{ operator: 'Maybe' }] }), "toleration[0]: operator must be 'Exists' or 'Equal'"],
      [ENV('x', { tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }, { effect: 'Never' }] }), "toleration[1]: effect must be 'NoSchedule', 'PreferNoSchedule', or 'NoExecute'"],
      [ENV('x', { tolerations: [{ operator: 'Exists', value: 'v' }] }), "toleration[0]: value must be empty when operator is 'Exists'"],
      [ENV('x', { tolerations: [{ effect: 'NoSchedule', tolerationSeconds: 5 }] }), "toleration[0]: tolerationSeconds can only be set when effect is 'NoExecute'"],
      [ENV('x', { tolerations: [{ key: 'k'.repeat(254) }] }), 'toleration[0]: key must be 253 characters or less'],
      [ENV('x', { isolation: { runtime_class: 'gVisor' } }), 'isolation.runtime_class must be lowercase alphanumeric with hyphens'],
      [ENV('x', { isolation: { runtime_class: 'g'.repeat(64) } }), 'isolation.runtime_class must be 63 characters or less'],
      [ENV('x', { isolation: { network_policy: { allowed_egress_cidrs: ['10.0.0/8'] } } }), "isolation.network_policy.allowed_egress_cidrs[0]: invalid CIDR format '10.0.0/8'"],
      [ENV('x', { isolation: { network_policy: { allowed_ingress_ports: [0] } } }), 'isolation.network_policy.allowed_ingress_ports[0]: port must be between 1 and 65535'],
      [ENV('x', { isolation: { security_context: { run_as_user: -1 } } }), 'isolation.security_context.run_as_user must be non-negative'],
      [ENV('x', { isolation: { security_context: { run_as_group: -5 } } }), 'isolation.security_context.run_as_group must be non-negative'],
    ];
    for (const [body, message] of cases) {
      const r = await api(srv, alice, 'POST', '/api/v1/environments', body);
      assertError(r, 400, 'validation failed', message);
    }
    // a field of the wrong JSON type is the decoder's failure
    const typed = await api(srv, alice, 'POST', '/api/v1/environments', { ...ENV('x'), timeout: '60' });
    assertError(typed, 400, 'invalid request body', /cannot unmarshal string into Go struct field timeout of type int/);
    const listed = await api(srv, alice, 'GET', '/api/v1/environments');
    assert.equal(listed.json.total, 0, 'nothing was created by a refused request');
  });

  test('what mcpbox cannot honour is refused, said, never ignored; an unknown image lists the known ones', async () => {
    const cases = [
      [{ network_policy: { allowed_egress_cidrs: ['10.0.0.0/8'] } }, /allowed_egress_cidrs is not supported/],
      [{ network_policy: { allow_cluster_internal: true } }, /allow_cluster_internal is not supported/],
      [{ network_policy: { allowed_ingress_ports: [8080] } }, /allowed_ingress_ports is not supported/],
      [{ security_context: { run_as_user: 0 } }, /run_as_user 0 is not supported: .* uid and gid 1000/],
      [{ security_context: { run_as_group: 2000 } }, /run_as_group 2000 is not supported/],
      [{ security_context: { allow_privilege_escalation: true } }, /allow_privilege_escalation: true is not supported/],
      [{ security_context: { read_only_root_filesystem: false } }, /read_only_root_filesystem: false is not supported/],
    ];
    for (const [isolation, message] of cases) {
      const r = await api(srv, alice, 'POST', '/api/v1/environments', ENV('iso', { isolation }));
      assertError(r, 400, 'validation failed', message);
    }
    const unknown = await api(srv, alice, 'POST', '/api/v1/environments', { ...ENV('img'), image: 'oracle-db:19' });
    assertError(unknown, 400, 'validation failed', /"oracle-db:19" not found.*available: .*basic-python/);
    // what it can honour: uid 1000, no escalation, a read-only root, a runtime class kept, no internet
    const ok = await api(srv, alice, 'POST', '/api/v1/environments', ENV('iso-ok', {
      isolation: { runtime_class: 'gvisor', network_policy: { allow_internet: false }, security_context: { run_as_user: 1000, run_as_group: 1000, run_as_non_root: true, read_only_root_filesystem: true, allow_privilege_escalation: false } },
      node_selector: { 'disk': 'ssd' }, tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }],
    }));
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(Object.keys(ok.json).slice(-3), ['node_selector', 'tolerations', 'isolation']);
    assert.equal(ok.json.isolation.runtime_class, 'gvisor');
    const id = ok.json.id;
    const who = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', 'id -u; id -g; touch /usr/x 2>&1; echo rc=$?'] });
    assert.match(who.json.stdout, /^1000\n1000\n.*\nrc=1\n$/s);
    const net = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', 'cat /proc/net/dev | grep -c :'] });
    assert.equal(net.json.stdout.trim(), '1', 'only the loopback interface without allow_internet');
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${id}?force=true`)).status, 204);
  });

  test('messages of refusals that come from the core name no mcpbox tool (an AgentBox client calls none)', async () => {
    const c = await api(srv, alice, 'POST', '/api/v1/environments', ENV('msgs'));
    assert.equal(c.status, 201, c.text);
    const id = c.json.id;
    // more CPUs than this host has (on a host of fewer than 10): the twin's validator takes it, the sandbox cannot
    const cpu = await api(srv, alice, 'PATCH', `/api/v1/environments/${id}`, { resources: { cpu: '10000m', memory: '256Mi', storage: '1Gi' } });
    if (os.cpus().length < 10) {
      assertError(cpu, 400, /./);
      assert.doesNotMatch(cpu.json.message, /^[a-z]+_[a-z_]+: /, cpu.text);
    }
    const run = await api(srv, alice, 'POST', `/api/v1/environments/${id}/run`, { command: ['true'], env: { A: 1 } });
    assertError(run, 400, 'failed to submit execution', /^argument "env"\.A must be a string/);
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${id}`)).status, 204);
  });

  test('list: status, label selectors, limit and offset, in creation order; each principal sees its own', async () => {
    const made = [];
    for (const [name, labels] of [['sel-a', { team: 'x', tier: 'web' }], ['sel-b', { team: 'y', tier: 'web' }], ['sel-c', { team: 'z' }]]) {
      const r = await api(srv, alice, 'POST', '/api/v1/environments', ENV(name, { labels }));
      assert.equal(r.status, 201, r.text);
      made.push(r.json.id);
    }
    const names = async (q, token = alice) => {
      const r = await api(srv, token, 'GET', `/api/v1/environments${q}`);
      assert.equal(r.status, 200, r.text);
      return r.json.environments.map((e) => e.name);
    };
    assert.deepEqual(await names(''), ['sel-a', 'sel-b', 'sel-c']);
    assert.deepEqual(await names('?label=team%3Dx'), ['sel-a']);
    assert.deepEqual(await names('?label=team!%3Dx'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('?label=team%20in%20(x%2Cz)'), ['sel-a', 'sel-c']);
    assert.deepEqual(await names('?label=team%20notin%20(x)'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('?label=tier'), ['sel-a', 'sel-b']);
    assert.deepEqual(await names('?label=!tier'), ['sel-c']);
    assert.deepEqual(await names('?label=tier%3Dweb%2Cteam%3Dy'), ['sel-b']);
    assert.deepEqual(await names('?status=running&limit=2&offset=1'), ['sel-b', 'sel-c']);
    assert.deepEqual(await names('?status=terminated'), []);
    const page = await api(srv, alice, 'GET', '/api/v1/environments?limit=1&offset=2');
    assert.equal(page.json.total, 3);
    assert.equal(page.json.limit, 1);
    assert.equal(page.json.offset, 2);
    assertError(await api(srv, alice, 'GET', '/api/v1/environments?label=team%20in%20x'), 400, 'invalid label selector');
    assertError(await api(srv, alice, 'GET', '/api/v1/environments?status=sleeping'), 400, 'invalid status');
    // bob sees none of alice's, and cannot reach them
    assert.deepEqual(await names('', bob), []);
    assertError(await api(srv, bob, 'GET', `/api/v1/environments/${made[0]}`), 404, 'environment not found');
    assertError(await api(srv, bob, 'POST', `/api/v1/environments/${made[0]}/exec`, { command: ['true'] }), 404, 'environment not found');
    assertError(await api(srv, bob, 'DELETE', `/api/v1/environments/${made[0]}`), 404, 'environment not found');
    // PATCH: labels change (and filter), the image cannot
    const p = await api(srv, alice, 'PATCH', `/api/v1/environments/${made[2]}`, { labels: { team: 'x' } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json.labels, { team: 'x' });
    assert.deepEqual(await names('?label=team%3Dx'), ['sel-a', 'sel-c']);
    assertError(await api(srv, alice, 'PATCH', `/api/v1/environments/${made[2]}`, { image: 'node:20' }), 400, 'validation failed', /image cannot be changed/);
    // resources and env change the running session (session_update): the programs started next see them
    const more = await api(srv, alice, 'PATCH', `/api/v1/environments/${made[2]}`, { resources: { cpu: '500m', memory: '384Mi', storage: '2Gi' }, env: { COLOR: 'blue' } });
    assert.equal(more.status, 200, more.text);
    assert.deepEqual(more.json.resources, { cpu: '500m', memory: '384Mi', storage: '2Gi' });
    assert.deepEqual(more.json.env, { COLOR: 'blue' });
    const seen = await api(srv, alice, 'POST', `/api/v1/environments/${made[2]}/exec`, { command: ['sh', '-c', 'echo $COLOR'] });
    assert.equal(seen.json.stdout, 'blue\n');
    const mcp = await httpClient(srv, { key: alice });
    assert.match(textOf(await mcp.call('session_info', { session_id: made[2] })), /"memory_mb":\s*384/);
    await mcp.close();
    assertError(await api(srv, alice, 'PATCH', `/api/v1/environments/${made[2]}`, { env: {} }), 400, 'validation failed', /COLOR cannot be removed/);
    assertError(await api(srv, alice, 'PATCH', `/api/v1/environments/${made[2]}`, { resources: { cpu: '500m', memory: '1Mi', storage: '2Gi' } }), 400, 'validation failed', /at least 16Mi/);
    assertError(await api(srv, alice, 'PATCH', `/api/v1/environments/${made[2]}`, { labels: { '': 'x' } }), 400, 'validation failed', 'label key cannot be empty');
    for (const id of made) assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${id}`)).status, 204);
    assert.deepEqual(await names(''), []);
  });

  test('exec runs the argv without a shell; runs are jobs; logs carry real times and streams', async () => {
    const c = await api(srv, alice, 'POST', '/api/v1/environments', ENV('exec-env', { env: { GREETING: 'hi <&>' } }));
    assert.equal(c.status, 201, c.text);
    const id = c.json.id;
    const argv = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['printf', '%s|', '$HOME', '*', "it's", 'a b'] });
    assert.equal(argv.json.stdout, "$HOME|*|it's|a b|", 'no expansion, no globbing, no splitting');
    // Go escapes <, > and & in strings
    const env = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', 'echo "$GREETING"; echo oops >&2; exit 3'] });
    assert.deepEqual([env.json.stdout, env.json.stderr, env.json.exit_code], ['hi <&>\n', 'oops\n', 3]);
    assert.match(env.text, /hi \\u003c\\u0026\\u003e/);
    assert.equal(typeof env.json.duration_ms, 'number');
    const missing = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['no-such-program'] });
    assert.equal(missing.json.exit_code, 127);
    // past its timeout: the twin's answer (its context deadline ends the stream: 500, no output), saying why
    const t0 = Date.now();
    const slow = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', 'echo started; sleep 30'], timeout: 1 });
    assertError(slow, 500, 'failed to execute command', /^failed to execute command: context deadline exceeded \(the command ran past its timeout and was killed after \d+ ms\)$/);
    assert.ok(Date.now() - t0 < 10000, 'the timeout applied');
    const selfKilled = await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', 'sleep 0.2; exit 137'], timeout: 5 });
    assert.deepEqual([selfKilled.status, selfKilled.json.exit_code], [200, 137], 'a program that exits 137 by itself is an answer, not a timeout');
    assertError(await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: [] }), 400, 'command is required');
    assertError(await api(srv, alice, 'POST', `/api/v1/environments/${id}/exec`, { command: ['x'], timeout: -1 }), 400, 'timeout cannot be negative');
    const empty = await httpRequest(srv, { method: 'POST', path: `/api/v1/environments/${id}/exec`, headers: { Authorization: `Bearer ${alice}` } });
    assert.equal(empty.status, 400);
    assert.match(empty.json.error, /^request body is required/);

    // async: run → executions → get → cancel
    const run = await api(srv, alice, 'POST', `/api/v1/environments/${id}/run`, { command: ['sh', '-c', 'echo started; sleep 30'] });
    assert.equal(run.status, 202, run.text);
    assert.deepEqual(Object.keys(run.json), ['id', 'environment_id', 'status', 'created_at']);
    assert.equal(run.json.environment_id, id);
    const quick = await api(srv, alice, 'POST', `/api/v1/environments/${id}/run`, { command: ['sh', '-c', 'echo done-$X'], env: { X: 'y' } });
    let got;
    for (let i = 0; i < 100; i++) {
      got = await api(srv, alice, 'GET', `/api/v1/executions/${quick.json.id}`);
      if (got.json.status !== 'running') break;
      await sleep(50);
    }
    assert.equal(got.json.status, 'completed', got.text);
    assert.equal(got.json.exit_code, 0);
    assert.equal(got.json.stdout, 'done-y\n');
    const list = await api(srv, alice, 'GET', `/api/v1/environments/${id}/executions`);
    assert.ok(list.json.executions.some((e) => e.id === run.json.id && e.status === 'running'), list.text);
    assert.equal(list.json.total, list.json.executions.length);
    assertError(await api(srv, bob, 'GET', `/api/v1/executions/${run.json.id}`), 404, 'execution not found');
    const cancel = await api(srv, alice, 'DELETE', `/api/v1/executions/${run.json.id}`);
    assert.deepEqual(cancel.json, { status: 'canceled' });
    const after = await api(srv, alice, 'GET', `/api/v1/executions/${run.json.id}`);
    assert.equal(after.json.status, 'canceled');
    assertError(await api(srv, alice, 'DELETE', `/api/v1/executions/${quick.json.id}`), 400, /cannot be canceled/);

    // logs: lines with the stream each came on
    const logs = await api(srv, alice, 'GET', `/api/v1/environments/${id}/logs`);
    const msgs = logs.json.logs.map((l) => `${l.stream}:${l.message}`);
    assert.ok(msgs.includes('stdout:hi <&>') && msgs.includes('stderr:oops'), msgs.join('\n'));
    for (const l of logs.json.logs) assert.match(l.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const tail = await api(srv, alice, 'GET', `/api/v1/environments/${id}/logs?tail=1&timestamps=false`);
    assert.equal(tail.json.logs.length, 1);
    assert.equal(tail.json.logs[0].timestamp, '0001-01-01T00:00:00Z');

    // follow: Server-Sent Events, each line when it is written
    const lines = [];
    const res = await new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: srv.port, path: `/api/v1/environments/${id}/logs?follow=true&tail=1`, headers: { Authorization: `Bearer ${alice}` } }, resolve);
      req.on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    let buf = '';
    const arrived = [];
    res.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        assert.ok(frame.startsWith('data: '), frame);
        lines.push(JSON.parse(frame.slice(6)));
        arrived.push(Date.now());
      }
    });
    await sleep(400);
    assert.equal(lines.length, 1, 'tail=1 first');
    await api(srv, alice, 'POST', `/api/v1/environments/${id}/run`, { command: ['sh', '-c', 'for i in 1 2 3; do echo tick-$i; sleep 0.6; done'] });
    for (let i = 0; i < 60 && lines.filter((l) => /^tick-/.test(l.message)).length < 3; i++) await sleep(100);
    const ticks = lines.filter((l) => /^tick-/.test(l.message));
    assert.deepEqual(ticks.map((l) => l.message), ['tick-1', 'tick-2', 'tick-3']);
    const at = lines.map((l, i) => [l, arrived[i]]).filter(([l]) => /^tick-/.test(l.message)).map(([, t]) => t);
    assert.ok(at[2] - at[0] > 800, `streamed as written, not at the end (${at[2] - at[0]} ms)`);
    const times = ticks.map((l) => Date.parse(l.timestamp));
    assert.ok(times[2] - times[0] >= 1000, `each line has the time it was written (${times[2] - times[0]} ms)`);
    res.destroy();
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${id}`)).status, 204);
    assertError(await api(srv, alice, 'GET', `/api/v1/environments/${id}/logs`), 404, 'environment not found');
  });

  test('attach: an interactive shell over the WebSocket (stdin in, stdout out, an exit frame), with each way of passing the token', async () => {
    const c = await api(srv, alice, 'POST', '/api/v1/environments', ENV('attach-env'));
    assert.equal(c.status, 201, c.text);
    const id = c.json.id;
    const wsBase = srv.base.replace(/^http/, 'ws');
    /** Open, type lines, collect frames until the exit frame. */
    const session = (url, protocols, options, lines) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options);
      const frames = [];
      let out = '';
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no exit frame; got ${JSON.stringify(frames).slice(0, 500)}`)); }, 20000);
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ refused: res.statusCode, body }));
      });
      ws.on('error', (e) => { clearTimeout(timer); reject(e); });
      ws.on('open', () => {
        for (const l of lines) ws.send(JSON.stringify({ type: 'stdin', data: l }));
      });
      ws.on('message', (d, binary) => {
        assert.equal(binary, false, 'text frames');
        const m = JSON.parse(d.toString());
        frames.push(m);
        if (m.type === 'stdout') out += m.data;
        assert.match(m.timestamp, /^\d{4}-\d\d-\d\dT/);
      });
      ws.on('close', () => { clearTimeout(timer); resolve({ frames, out, protocol: ws.protocol }); });
    });
    // the header (as the twin's middleware wants it)
    const byHeader = await session(`${wsBase}/api/v1/environments/${id}/attach`, [], { headers: { Authorization: `Bearer ${alice}` } },
      ['echo "hello from $(id -u)"\n', 'pwd\n', 'exit 7\n']);
    assert.match(byHeader.out, /hello from 1000/);
    assert.match(byHeader.out, /\/workspace/);
    const exit = byHeader.frames.at(-1);
    assert.equal(exit.type, 'exit');
    assert.equal(exit.data, '');
    assert.equal(exit.exit_code, 7);
    // the document's browser way, the subprotocol pair ['Authorization', 'Bearer <token>']: conformant
    // clients (browsers, ws) refuse a protocol with a space before sending it, so it is sent raw here
    const upgrade = (protocol) => new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, path: `/api/v1/environments/${id}/attach`, headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'), 'Sec-WebSocket-Protocol': protocol,
      } });
      req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, protocol: res.headers['sec-websocket-protocol'] }); });
      req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode }); });
      req.on('error', reject);
      req.end();
    });
    // (libwebsockets takes protocol names of up to 63 bytes: an API key fits, a login token does not)
    // (the server's administrator key reaches every environment)
    assert.deepEqual(await upgrade(`Authorization, Bearer ${srv.key}`), { status: 101, protocol: 'Authorization' });
    assert.equal((await upgrade('Authorization, Bearer mcpbox_forged')).status, 401);
    // ?token= and the compat prefix; an interactive program reading stdin
    const byQuery = await session(`${wsBase}/compat/agentbox/api/v1/environments/${id}/attach?token=${alice}`, [], {},
      ['read x; echo "got:$x"\n', 'typed\n', 'exit 0\n']);
    assert.match(byQuery.out, /got:typed/);
    // refusals at the upgrade: no token, a bad one, another user's environment, an unknown one, in the
    // document's error format (Go's bytes: a newline after the body)
    const refused = async (url, options, status, error, message) => {
      const r = await session(url, [], options, []);
      assert.equal(r.refused, status, r.body);
      assert.ok(r.body.endsWith('}\n'), JSON.stringify(r.body));
      assert.deepEqual(JSON.parse(r.body), { error, message, code: status });
    };
    await refused(`${wsBase}/api/v1/environments/${id}/attach`, {}, 401, 'unauthorized', 'missing authorization header');
    await refused(`${wsBase}/api/v1/environments/${id}/attach?token=nope`, {}, 401, 'unauthorized', 'invalid token or API key');
    await refused(`${wsBase}/api/v1/environments/${id}/attach`, { headers: { Authorization: `Bearer ${bob}` } }, 404, 'environment not found', 'environment not found');
    await refused(`${wsBase}/api/v1/environments/ses_nope/attach`, { headers: { Authorization: `Bearer ${alice}` } }, 404, 'environment not found', 'environment not found');
    // what the shell typed went through the environment's terminal, which is closed again
    const mcp = await httpClient(srv, { key: alice });
    const terms = await mcp.call('terminal_list', { session_id: id });
    assert.doesNotMatch(textOf(terms), /running/);
    await mcp.close();
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${id}`)).status, 204);
  });

  test('attach opened with ?token= ends at its next frame once the token stops working (its user disabled), as /mcp', async () => {
    addUser(srv.dataDir, 'attachdave', 'attachdave-password-1');
    const t = await login(srv, 'attachdave', 'attachdave-password-1');
    const c = await api(srv, t, 'POST', '/api/v1/environments', ENV('attach-off'));
    assert.equal(c.status, 201, c.text);
    const ws = new WebSocket(`${srv.base.replace(/^http/, 'ws')}/api/v1/environments/${c.json.id}/attach?token=${t}`);
    let out = '';
    ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.type === 'stdout') out += m.data; });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.send(JSON.stringify({ type: 'stdin', data: 'echo be$((1+1))fore\n' }));
    const t0 = Date.now();
    while (!out.includes('be2fore') && Date.now() - t0 < 10000) await sleep(50);
    assert.match(out, /be2fore/);
    const off = spawnSync(BIN, ['user', 'disable', 'attachdave', '--data', srv.dataDir], { encoding: 'utf8' });
    assert.equal(off.status, 0, off.stderr);
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ type: 'stdin', data: 'echo af$((1+1))ter\n' }));
    assert.equal(await Promise.race([closed, sleep(5000).then(() => 'still open')]), 1008);
    assert.doesNotMatch(out, /af2ter/);
  });

  test('auth: me, change-password, logout; forged, expired, wrong-issuer tokens; a revoked key; MCP sees the same sessions', async () => {
    addUser(srv.dataDir, 'carol', 'carol-password-1');
    const carol = await login(srv, 'carol', 'carol-password-1');
    const me = await api(srv, carol, 'GET', '/api/v1/auth/me');
    assert.equal(me.json.username, 'carol');
    const badLogin = await api(srv, null, 'POST', '/api/v1/auth/login', { username: 'carol', password: 'nope-nope-nope' });
    assertError(badLogin, 401, 'authentication failed', 'invalid credentials');
    assertError(await api(srv, null, 'POST', '/api/v1/auth/login', { username: 'carol' }), 400, undefined, 'username and password are required');

    const secret = fs.readFileSync(path.join(srv.dataDir, 'jwt.secret'));
    const claims = claimsOf(carol);
    const now = Math.floor(Date.now() / 1000);
    const expired = forge(secret, { ...claims, iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
    assertError(await api(srv, expired, 'GET', '/api/v1/auth/me'), 401, 'unauthorized', 'invalid token or API key');
    const issuer = forge(secret, { ...claims, iss: 'agentbox' });
    assertError(await api(srv, issuer, 'GET', '/api/v1/auth/me'), 401, 'unauthorized', 'invalid token or API key');
    const [h, p] = carol.split('.');
    const elevated = Buffer.from(JSON.stringify({ ...claims, sub: 'alice' })).toString('base64url');
    assertError(await api(srv, `${h}.${elevated}.${carol.split('.')[2]}`, 'GET', '/api/v1/auth/me'), 401, 'unauthorized', 'invalid token or API key');
    const other = forge(crypto.randomBytes(32), claims);
    assertError(await api(srv, other, 'GET', '/api/v1/auth/me'), 401, 'unauthorized', 'invalid token or API key');
    assert.ok(p);

    // change-password: the old one is checked; afterwards only the new one logs in
    assertError(await api(srv, carol, 'POST', '/api/v1/auth/change-password', { current_password: 'wrong-one-1', new_password: 'carol-password-2' }), 401, 'invalid current password');
    assertError(await api(srv, carol, 'POST', '/api/v1/auth/change-password', { current_password: 'carol-password-1', new_password: 'short' }), 400, 'validation failed');
    const changed = await api(srv, carol, 'POST', '/api/v1/auth/change-password', { current_password: 'carol-password-1', new_password: 'carol-password-2' });
    assert.equal(changed.status, 200, changed.text);
    assertError(await api(srv, null, 'POST', '/api/v1/auth/login', { username: 'carol', password: 'carol-password-1' }), 401);
    await login(srv, 'carol', 'carol-password-2');
    const out = await api(srv, carol, 'POST', '/api/v1/auth/logout');
    assert.equal(out.status, 204);

    // a key: works as Bearer and as X-API-Key; revoked, it does not
    const k = createKey(srv.dataDir, { name: 'agentbox-ci' });
    const made = await api(srv, k.key, 'POST', '/api/v1/environments', ENV('by-key'));
    assert.equal(made.status, 201, made.text);
    const mcp = await httpClient(srv, { key: k.key });
    const sessions = await mcp.call('session_list', {});
    assert.match(textOf(sessions), new RegExp(made.json.id), 'the environment is a session MCP clients of the key see');
    const viaMcp = await mcp.call('execute', { session_id: made.json.id, language: 'shell', code: 'echo from-mcp' });
    assert.match(textOf(viaMcp), /from-mcp/);
    await mcp.close();
    const logs = await api(srv, null, 'GET', `/api/v1/environments/${made.json.id}/logs`, undefined, { 'X-API-Key': k.key });
    assert.ok(logs.json.logs.some((l) => l.message === 'from-mcp'), logs.text);
    assert.equal(keyCli(srv.dataDir, 'revoke', k.id).status, 0);
    assertError(await api(srv, k.key, 'GET', '/api/v1/environments'), 401, 'unauthorized', 'invalid token or API key');
    assertError(await api(srv, null, 'GET', '/api/v1/environments', undefined, { 'X-API-Key': k.key }), 401, 'unauthorized', 'invalid API key');
  });
  test('logout revokes the token: refused afterwards by every dialect and by MCP over HTTP and WebSocket; another token of the user still works', async () => {
    addUser(srv.dataDir, 'erin', 'erin-password-1');
    const gone = await login(srv, 'erin', 'erin-password-1');
    const kept = await login(srv, 'erin', 'erin-password-1');
    assert.notEqual(gone, kept, 'two logins in one second, two tokens (jti)');
    const mcpInit = (token) => httpRequest(srv, { method: 'POST', path: '/mcp', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'logout-test', version: '1' } } } });
    const wsStatus = (token) => new Promise((resolve) => {
      const ws = new WebSocket(srv.url.replace(/^http/, 'ws'), 'mcp', { headers: { Authorization: `Bearer ${token}` } });
      ws.on('open', () => { ws.close(); resolve(101); });
      ws.on('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode); });
      ws.on('error', () => resolve(0));
    });
    const soulbox = (token) => httpRequest(srv, { method: 'GET', path: '/api/sandboxes', headers: { Authorization: `Bearer ${token}` } });
    // before: the token works everywhere
    assert.equal((await api(srv, gone, 'GET', '/api/v1/auth/me')).json.username, 'erin');
    assert.equal((await api(srv, gone, 'GET', '/compat/agentbox/api/v1/environments')).status, 200);
    assert.equal((await soulbox(gone)).status, 200);
    assert.equal((await mcpInit(gone)).status, 200);
    assert.equal(await wsStatus(gone), 101);

    const out = await api(srv, gone, 'POST', '/api/v1/auth/logout');
    assert.equal(out.status, 204, out.text);
    assert.equal(out.text, '');
    // after: refused by every dialect and transport
    assertError(await api(srv, gone, 'GET', '/api/v1/auth/me'), 401, 'unauthorized', 'invalid token or API key');
    assertError(await api(srv, gone, 'GET', '/compat/agentbox/api/v1/environments'), 401, 'unauthorized', 'invalid token or API key');
    assert.equal((await soulbox(gone)).status, 401);
    assert.equal((await mcpInit(gone)).status, 401);
    assert.equal(await wsStatus(gone), 401);
    // the same user's other token is untouched; a second logout of the revoked one is still a 204
    assert.equal((await api(srv, kept, 'GET', '/api/v1/auth/me')).json.username, 'erin');
    assert.equal((await mcpInit(kept)).status, 200);
    assert.equal((await api(srv, gone, 'POST', '/api/v1/auth/logout')).status, 204);
    // the revocation is a record in the store (by the token's hash, until the token expires)
    const db = spawnSync('sqlite3', [path.join(srv.dataDir, 'mcpbox.db'), 'SELECT count(*), min(expires_at) FROM revoked_tokens'], { encoding: 'utf8' });
    if (db.status === 0) {
      const [n, exp] = db.stdout.trim().split('|').map(Number);
      assert.equal(n, 1, db.stdout);
      assert.equal(exp, claimsOf(gone).exp + 30, 'kept until the token expires (with the verifier\'s skew)');
    }
  });
  test('api-keys: create with permissions (read/write/admin), list, revoke; a scoped key reaches only its environment, a viewer cannot exec', async () => {
    const mine = (await api(srv, alice, 'POST', '/api/v1/environments', ENV('keyed-a'))).json.id;
    const other = (await api(srv, alice, 'POST', '/api/v1/environments', ENV('keyed-b'))).json.id;
    const bobs = (await api(srv, bob, 'POST', '/api/v1/environments', ENV('bobs'))).json.id;
    // the document's request
    const made = await api(srv, alice, 'POST', '/api/v1/api-keys', { description: 'CI/CD Pipeline Key', expires_in: 90, permissions: [{ environment_id: mine, permission: 'write' }] });
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(Object.keys(made.json).slice(0, 2), ['id', 'key']);
    assert.equal(made.json.description, 'CI/CD Pipeline Key');
    assert.deepEqual(made.json.permissions, [{ environment_id: mine, permission: 'write' }]);
    const days = (Date.parse(made.json.expires_at) - Date.parse(made.json.created_at)) / 86400000;
    assert.ok(Math.abs(days - 90) < 0.01, `expires in 90 days (${days})`);
    const writer = made.json.key;
    // the writer: exec on its environment, nothing on the other, no new environments, no delete (admin level)
    const ok = await api(srv, writer, 'POST', `/api/v1/environments/${mine}/exec`, { command: ['echo', 'scoped'] });
    assert.equal(ok.json.stdout, 'scoped\n', ok.text);
    assertError(await api(srv, writer, 'GET', `/api/v1/environments/${other}`), 404, 'environment not found');
    assertError(await api(srv, writer, 'POST', `/api/v1/environments/${other}/exec`, { command: ['true'] }), 404, 'environment not found');
    const listed = await api(srv, writer, 'GET', '/api/v1/environments');
    assert.deepEqual(listed.json.environments.map((e) => e.id), [mine]);
    assertError(await api(srv, writer, 'POST', '/api/v1/environments', ENV('nope')), 403, 'insufficient permissions');
    assertError(await api(srv, writer, 'DELETE', `/api/v1/environments/${mine}`), 403, 'insufficient permissions', /owner/);
    // a viewer (the document's read) sees and reads logs, cannot exec, run or attach
    const viewer = (await api(srv, alice, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: mine, permission: 'read' }] })).json.key;
    assert.equal((await api(srv, viewer, 'GET', `/api/v1/environments/${mine}`)).status, 200);
    assert.equal((await api(srv, viewer, 'GET', `/api/v1/environments/${mine}/logs`)).status, 200);
    assertError(await api(srv, viewer, 'POST', `/api/v1/environments/${mine}/exec`, { command: ['id'] }), 403, 'insufficient permissions', /editor/);
    assertError(await api(srv, viewer, 'POST', `/api/v1/environments/${mine}/run`, { command: ['id'] }), 403, 'insufficient permissions');
    // a key never exceeds its creator: the viewer cannot make a writer; nobody grants on another's environment
    const up = await api(srv, viewer, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: mine, permission: 'admin' }] });
    assertError(up, 403, 'insufficient permissions');
    assertError(await api(srv, alice, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: bobs, permission: 'read' }] }), 403, 'insufficient permissions');
    assertError(await api(srv, alice, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: mine, permission: 'superuser' }] }), 400, 'invalid permission level: superuser');
    assertError(await api(srv, alice, 'POST', '/api/v1/api-keys', { expires_in: 0 }), 400);
    // list and revoke: alice sees her keys (not bob's); a revoked key stops at once and stays listed
    const keys = await api(srv, alice, 'GET', '/api/v1/api-keys');
    const entry = keys.json.api_keys.find((k) => k.id === made.json.id);
    assert.ok(entry && !('key' in entry), 'listed without its secret');
    assert.deepEqual(entry.permissions, [{ environment_id: mine, permission: 'write' }]);
    assert.equal((await api(srv, bob, 'GET', '/api/v1/api-keys')).json.api_keys.some((k) => k.id === made.json.id), false);
    assertError(await api(srv, bob, 'DELETE', `/api/v1/api-keys/${made.json.id}`), 404, 'failed to revoke API key');
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/api-keys/${made.json.id}`)).status, 204);
    assertError(await api(srv, writer, 'GET', `/api/v1/environments/${mine}`), 401, 'unauthorized', 'invalid token or API key');
    const after = await api(srv, alice, 'GET', '/api/v1/api-keys');
    assert.ok(after.json.api_keys.find((k) => k.id === made.json.id).revoked_at);
    // an unscoped key of alice's acts for alice
    const hers = (await api(srv, alice, 'POST', '/api/v1/api-keys', { description: 'all of mine' })).json.key;
    const me = await api(srv, hers, 'GET', '/api/v1/auth/me');
    assert.equal(me.json.username, 'alice');
    assert.equal((await api(srv, hers, 'GET', '/api/v1/environments')).json.total, 2);
    for (const id of [mine, other]) assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${id}`)).status, 204);
    assert.equal((await api(srv, bob, 'DELETE', `/api/v1/environments/${bobs}`)).status, 204);
  });

  test('users (administrators), metrics from the sessions, the pool', async () => {
    addUser(srv.dataDir, 'boss', 'boss-password-1', '--admin');
    const boss = await login(srv, 'boss', 'boss-password-1');
    assertError(await api(srv, alice, 'GET', '/api/v1/users'), 403, 'insufficient permissions');
    const created = await api(srv, boss, 'POST', '/api/v1/users', { username: 'dave', password: 'dave-password-1', role: 'user', email: 'dave@example.com' });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.username, 'dave');
    assert.equal(created.json.status, 'active');
    assertError(await api(srv, boss, 'POST', '/api/v1/users', { username: 'dave', password: 'dave-password-1' }), 409);
    assertError(await api(srv, boss, 'POST', '/api/v1/users', { username: 'eve', password: 'short' }), 400, 'password must be at least 8 characters');
    assertError(await api(srv, boss, 'POST', '/api/v1/users', { password: 'long-enough' }), 400, 'username is required');
    assertError(await api(srv, boss, 'POST', '/api/v1/users', { username: 'eve', password: 'eve-password-1', role: 'super_admin' }), 403, 'only super admins can assign super admin role');
    const dave = await login(srv, 'dave', 'dave-password-1');
    const list = await api(srv, boss, 'GET', '/api/v1/users');
    assert.ok(list.json.users.some((u) => u.username === 'dave'));
    assert.equal(list.json.total, list.json.users.length);
    assert.equal((await api(srv, dave, 'GET', '/api/v1/users/dave')).json.role, 'user');
    assertError(await api(srv, dave, 'GET', '/api/v1/users/alice'), 403);
    assertError(await api(srv, dave, 'PUT', '/api/v1/users/dave', { role: 'admin' }), 403, 'cannot modify role, status, or username');
    const promoted = await api(srv, boss, 'PUT', '/api/v1/users/dave', { role: 'admin' });
    assert.equal(promoted.json.role, 'admin', promoted.text);
    const disabled = await api(srv, boss, 'PUT', '/api/v1/users/dave', { status: 'inactive' });
    assert.equal(disabled.json.status, 'inactive');
    assertError(await api(srv, dave, 'GET', '/api/v1/auth/me'), 401, 'unauthorized');
    assert.equal((await api(srv, boss, 'PUT', '/api/v1/users/dave', { status: 'active', password: 'dave-password-2' })).status, 200);
    await login(srv, 'dave', 'dave-password-2');
    assert.equal((await api(srv, boss, 'DELETE', '/api/v1/users/dave')).status, 204);
    assertError(await api(srv, null, 'POST', '/api/v1/auth/login', { username: 'dave', password: 'dave-password-2' }), 401);
    assertError(await api(srv, boss, 'DELETE', '/api/v1/users/boss'), 400, 'cannot delete your own account');
    assertError(await api(srv, boss, 'GET', '/api/v1/users/nobody-here'), 404, 'user not found');
    assertError(await api(srv, boss, 'POST', '/api/v1/users/alice/permissions', { environment_id: 'x', permission: 'read' }), 404, 'environment not found');

    // metrics: real numbers of the environment's sandbox
    const env = (await api(srv, alice, 'POST', '/api/v1/environments', ENV('metered', { resources: { cpu: '1', memory: '256Mi', storage: '1Gi' } }))).json.id;
    await api(srv, alice, 'POST', `/api/v1/environments/${env}/run`, { command: ['sh', '-c', 'python3 -c "b = bytearray(64 << 20); import time; time.sleep(20)"'] });
    await sleep(1500);
    const mem = await api(srv, alice, 'GET', `/api/v1/metrics/environment/${env}?type=memory_usage`);
    assert.equal(mem.status, 200, mem.text);
    assert.equal(mem.json.environment_id, env);
    assert.equal(mem.json.type, 'memory_usage');
    // an ordinary user has no memory cgroup to read (the sessions' usage is then 0, as session_info says)
    if (IS_ROOT) assert.ok(mem.json.metrics[0].value > 60 * 2 ** 20, `the 64 MiB the program holds (${mem.json.metrics[0].value})`);
    else assert.equal(typeof mem.json.metrics[0].value, 'number');
    const running = await api(srv, alice, 'GET', '/api/v1/metrics/global');
    assert.equal(running.json.type, 'running_sandboxes');
    assert.equal(running.json.metrics[0].value, 1, running.text);
    assert.equal((await api(srv, bob, 'GET', '/api/v1/metrics/global')).json.metrics[0].value, 0, 'only what the caller sees');
    assertError(await api(srv, alice, 'GET', '/api/v1/metrics/global?type=nope'), 400, 'invalid metric type');
    assertError(await api(srv, bob, 'GET', `/api/v1/metrics/environment/${env}`), 404, 'environment not found');
    const pool = await api(srv, alice, 'GET', '/api/v1/pool/status');
    assert.deepEqual(pool.json, { pools: { default: 2 }, total: 2 }, 'the configured pool_size');
    assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${env}`)).status, 204);
  });

  test('users/{id}/permissions: an administrator grants a user a level on another\'s environment; the user acts at that level over REST and MCP, no higher', async () => {
    addUser(srv.dataDir, 'chief', 'chief-password-1', '--admin');
    addUser(srv.dataDir, 'gus', 'gus-password-1');
    const chief = await login(srv, 'chief', 'chief-password-1');
    const gus = await login(srv, 'gus', 'gus-password-1');
    const env = (await api(srv, alice, 'POST', '/api/v1/environments', ENV('shared-one'))).json.id;
    await api(srv, alice, 'POST', `/api/v1/environments/${env}/exec`, { command: ['sh', '-c', 'echo secret-data > notes.txt'] });
    const mcp = await httpClient(srv, { key: gus });
    try {
      // nothing before a grant, in either protocol
      assertError(await api(srv, gus, 'GET', `/api/v1/environments/${env}`), 404, 'environment not found');
      assert.match(textOf(await mcp.call('file_read', { session_id: env, path: 'notes.txt' })), /not found/);
      // only administrators grant; the twin's validation
      assertError(await api(srv, alice, 'POST', '/api/v1/users/gus/permissions', { environment_id: env, permission: 'viewer' }), 403, 'insufficient permissions');
      assertError(await api(srv, chief, 'POST', '/api/v1/users/nobody-here/permissions', { environment_id: env, permission: 'viewer' }), 404, 'user not found');
      assertError(await api(srv, chief, 'POST', '/api/v1/users/gus/permissions', { permission: 'viewer' }), 400, 'environment_id is required');
      assertError(await api(srv, chief, 'POST', '/api/v1/users/gus/permissions', { environment_id: env, permission: 'superuser' }), 400, 'invalid permission level (must be viewer, editor, or owner)');
      assertError(await api(srv, chief, 'POST', '/api/v1/users/gus/permissions', { environment_id: 'env-nope', permission: 'viewer' }), 404, 'environment not found');
      // a non-administrator key of an administrator grants nothing; an administrator key limited to the
      // environment as viewer grants viewer at most (never above the granter)
      const chiefKey = await api(srv, chief, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: env, permission: 'admin' }] });
      assert.equal(chiefKey.status, 201, chiefKey.text);
      assertError(await api(srv, chiefKey.json.key, 'POST', '/api/v1/users/gus/permissions', { environment_id: env, permission: 'viewer' }), 403, 'insufficient permissions');
      const opViewer = spawnSync(BIN, ['key', 'create', '--admin', '--session', `${env}:viewer`, '--data', srv.dataDir], { encoding: 'utf8' });
      assert.equal(opViewer.status, 0, opViewer.stderr);
      const opKey = /mcpbox_\S+/.exec(opViewer.stdout)[0];
      assertError(await api(srv, opKey, 'POST', '/api/v1/users/gus/permissions', { environment_id: env, permission: 'editor' }), 403, 'insufficient permissions', /cannot grant editor on environment .*: this credential holds viewer there/);

      const granted = await api(srv, chief, 'POST', '/api/v1/users/gus/permissions', { environment_id: env, permission: 'viewer' });
      assert.equal(granted.status, 201, granted.text);
      assert.deepEqual(Object.keys(granted.json), ['id', 'user_id', 'environment_id', 'permission', 'granted_by', 'granted_at']);
      assert.deepEqual([granted.json.user_id, granted.json.environment_id, granted.json.permission, granted.json.granted_by], ['gus', env, 'viewer', 'chief']);
      // viewer: reads in REST and MCP; runs nothing, writes nothing
      assert.equal((await api(srv, gus, 'GET', `/api/v1/environments/${env}`)).status, 200);
      assert.ok((await api(srv, gus, 'GET', '/api/v1/environments')).json.environments.some((e) => e.id === env), 'listed for the user');
      assert.equal(textOf(await mcp.call('file_read', { session_id: env, path: 'notes.txt' })).trim(), 'secret-data');
      assert.ok((await mcp.call('session_list', {})).structuredContent.sessions.some((x) => x.session_id === env));
      assertError(await api(srv, gus, 'POST', `/api/v1/environments/${env}/exec`, { command: ['id'] }), 403, 'insufficient permissions', /shared with this user as viewer; this needs editor/);
      const mexec = await mcp.call('execute', { session_id: env, language: 'shell', code: 'echo hi' });
      assert.equal(mexec.isError, true);
      assert.match(textOf(mexec), /permission denied: session \S+ is shared with this user as viewer; execute needs editor/);
      assert.equal((await mcp.call('file_write', { session_id: env, path: 'x.txt', content: 'x' })).isError, true);
      // a user reads its own grants; others (not administrators) may not
      const mine = await api(srv, gus, 'GET', '/api/v1/users/gus/permissions');
      assert.deepEqual(mine.json.permissions.map((p) => [p.environment_id, p.permission]), [[env, 'viewer']]);
      assertError(await api(srv, bob, 'GET', '/api/v1/users/gus/permissions'), 403, 'insufficient permissions');
      assert.equal((await api(srv, chief, 'GET', '/api/v1/users/gus/permissions')).json.permissions.length, 1);

      // editor (PUT): runs and writes, in both protocols; still cannot delete (owner)
      const up = await api(srv, chief, 'PUT', `/api/v1/users/gus/permissions/${env}`, { permission: 'editor' });
      assert.equal(up.status, 200, up.text);
      assert.equal(up.json.permission, 'editor');
      assert.equal(up.json.id, granted.json.id, 'the same grant, changed');
      assert.equal((await api(srv, gus, 'POST', `/api/v1/environments/${env}/exec`, { command: ['cat', 'notes.txt'] })).json.stdout, 'secret-data\n');
      assert.equal((await mcp.call('execute', { session_id: env, language: 'shell', code: 'echo from-gus > gus.txt; echo ok' })).structuredContent.stdout, 'ok\n');
      assertError(await api(srv, gus, 'DELETE', `/api/v1/environments/${env}`), 403, 'insufficient permissions', /as editor; this needs owner/);
      assert.equal((await mcp.call('session_destroy', { session_id: env })).isError, true);
      // gus's own keys may be scoped to the shared environment, up to editor (what gus holds there)
      const gusRead = await api(srv, gus, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: env, permission: 'read' }] });
      assert.equal(gusRead.status, 201, gusRead.text);
      assert.equal((await api(srv, gusRead.json.key, 'GET', `/api/v1/environments/${env}`)).status, 200);
      assert.deepEqual((await api(srv, gusRead.json.key, 'GET', '/api/v1/environments')).json.environments.map((e) => e.id), [env], 'it sees only its environment');
      assertError(await api(srv, gusRead.json.key, 'POST', `/api/v1/environments/${env}/exec`, { command: ['id'] }), 403, 'insufficient permissions');
      const gusWrite = await api(srv, gus, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: env, permission: 'write' }] });
      assert.equal(gusWrite.status, 201, gusWrite.text);
      assert.equal((await api(srv, gusWrite.json.key, 'POST', `/api/v1/environments/${env}/exec`, { command: ['cat', 'notes.txt'] })).json.stdout, 'secret-data\n');
      assertError(await api(srv, gus, 'POST', '/api/v1/api-keys', { permissions: [{ environment_id: env, permission: 'admin' }] }), 403,
        'insufficient permissions', /cannot grant owner on environment \S+: it is shared with this user as editor/);
      // over MCP too (key_create): up to editor, never owner
      const mk = await mcp.call('key_create', { name: 'gus-scoped', sessions: [{ session_id: env, level: 'editor' }] });
      assert.equal(mk.isError, undefined, textOf(mk));
      const mkOwner = await mcp.call('key_create', { name: 'gus-owner', sessions: [{ session_id: env, level: 'owner' }] });
      assert.equal(mkOwner.isError, true);
      assert.match(textOf(mkOwner), /cannot grant owner on session \S+: the credential creating the key is only editor there/);
      assertError(await api(srv, chief, 'PUT', `/api/v1/users/gus/permissions/${env}`, { permission: 'nope' }), 400, 'invalid permission level (must be viewer, editor, or owner)');
      assertError(await api(srv, chief, 'PUT', `/api/v1/users/bob/permissions/${env}`, { permission: 'viewer' }), 404, 'permission not found');

      // revoked: gone again everywhere
      assert.equal((await api(srv, chief, 'DELETE', `/api/v1/users/gus/permissions/${env}`)).status, 204);
      assertError(await api(srv, chief, 'DELETE', `/api/v1/users/gus/permissions/${env}`), 404, 'permission not found');
      assertError(await api(srv, gus, 'GET', `/api/v1/environments/${env}`), 404, 'environment not found');
      assert.equal((await mcp.call('file_read', { session_id: env, path: 'gus.txt' })).isError, true);
      assert.equal((await api(srv, gus, 'GET', '/api/v1/users/gus/permissions')).json.permissions.length, 0);
      assertError(await api(srv, gusWrite.json.key, 'GET', `/api/v1/environments/${env}`), 404, 'environment not found', undefined);
      assert.equal((await api(srv, alice, 'POST', `/api/v1/environments/${env}/exec`, { command: ['cat', 'gus.txt'] })).json.stdout, 'from-gus\n', 'what the editor wrote stays');
      // an environment that ends takes its grants with it
      assert.equal((await api(srv, chief, 'POST', '/api/v1/users/gus/permissions', { environment_id: env, permission: 'viewer' })).status, 201);
      assert.equal((await api(srv, alice, 'DELETE', `/api/v1/environments/${env}`)).status, 204);
      assert.deepEqual((await api(srv, gus, 'GET', '/api/v1/users/gus/permissions')).json.permissions, []);
    } finally {
      await mcp.close();
      await api(srv, alice, 'DELETE', `/api/v1/environments/${env}`);
    }
  });

  test('a grant made or removed by another process on the same data directory counts at once, no restart', async () => {
    addUser(srv.dataDir, 'hal', 'hal-password-1');
    const hal = await login(srv, 'hal', 'hal-password-1');
    const env = (await api(srv, alice, 'POST', '/api/v1/environments', ENV('shared-elsewhere'))).json.id;
    const db = (sql) => {
      const r = spawnSync('sqlite3', ['-cmd', '.timeout 10000', path.join(srv.dataDir, 'mcpbox.db'), sql], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    try {
      assertError(await api(srv, hal, 'GET', `/api/v1/environments/${env}`), 404, 'environment not found');
      // another process (here the sqlite3 shell) grants hal viewer on it
      db(`INSERT INTO user_grants (id, user, session_id, granted_at, doc) VALUES ('perm_elsewhere1', 'hal', '${env}', ${Date.now()}, '{"level":"viewer","granted_by":"ops"}')`);
      assert.equal((await api(srv, hal, 'GET', `/api/v1/environments/${env}`)).status, 200, 'seen without a restart');
      const listed = await api(srv, hal, 'GET', '/api/v1/users/hal/permissions');
      assert.deepEqual(listed.json.permissions.map((p) => [p.id, p.environment_id, p.permission, p.granted_by]), [['perm_elsewhere1', env, 'viewer', 'ops']]);
      assertError(await api(srv, hal, 'POST', `/api/v1/environments/${env}/exec`, { command: ['id'] }), 403, 'insufficient permissions', /as viewer; this needs editor/);
      // raised elsewhere: editor runs
      db(`UPDATE user_grants SET doc = '{"level":"editor","granted_by":"ops"}' WHERE id = 'perm_elsewhere1'`);
      assert.equal((await api(srv, hal, 'POST', `/api/v1/environments/${env}/exec`, { command: ['true'] })).status, 200);
      // and removed elsewhere: gone again
      db(`DELETE FROM user_grants WHERE id = 'perm_elsewhere1'`);
      assertError(await api(srv, hal, 'GET', `/api/v1/environments/${env}`), 404, 'environment not found');
      assert.deepEqual((await api(srv, hal, 'GET', '/api/v1/users/hal/permissions')).json.permissions, []);
    } finally {
      await api(srv, alice, 'DELETE', `/api/v1/environments/${env}`);
    }
  });

  test('an environment ends when its lifetime (timeout) has passed', async () => {
    const c = await api(srv, alice, 'POST', '/api/v1/environments', ENV('short-lived', { timeout: 1 }));
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.timeout, 1);
    let gone;
    for (let i = 0; i < 60; i++) {
      gone = await api(srv, alice, 'GET', `/api/v1/environments/${c.json.id}`);
      if (gone.status === 404) break;
      await sleep(250);
    }
    assertError(gone, 404, 'environment not found');
    const mcp = await httpClient(srv, { key: alice });
    assert.doesNotMatch(textOf(await mcp.call('session_list', {})), new RegExp(c.json.id), 'its session was destroyed');
    await mcp.close();
  });

  test('environments survive a restart of the server', async () => {
    const k = createKey(srv.dataDir, { name: 'persist' }).key;
    const c = await api(srv, k, 'POST', '/api/v1/environments', ENV('keep-me', { labels: { a: 'b' }, tolerations: [{ key: 't', operator: 'Exists' }] }));
    assert.equal(c.status, 201, c.text);
    await srv.close({ keepData: true });
    srv = await startServe({ dataDir: srv.dataDir });
    const got = await api(srv, k, 'GET', `/api/v1/environments/${c.json.id}`);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json.labels, { a: 'b' });
    assert.deepEqual(got.json.tolerations, [{ key: 't', operator: 'Exists' }]);
    assert.equal(got.json.status, 'terminated', 'a session of an earlier run comes back stopped');
    const retry = await api(srv, k, 'POST', `/api/v1/environments/${c.json.id}/retry`);
    assert.deepEqual([retry.status, retry.json], [202, { status: 'retry_triggered' }]);
    const again = await api(srv, k, 'GET', `/api/v1/environments/${c.json.id}`);
    assert.equal(again.json.status, 'running');
    assert.equal((await api(srv, k, 'DELETE', `/api/v1/environments/${c.json.id}`)).status, 204);
  });
});

describe('REST dialect 003: rate limits', () => {
  let srv, dataDir;
  before(async () => {
    srv = await startServe({ config: { compat: { agentbox: { rate_limits: { other: { per_minute: 120, burst: 3 }, auth: { per_minute: 6, burst: 2 } } } } } });
    dataDir = srv.dataDir;
  });
  after(async () => { await srv?.close(); });

  test('a category exhausted answers 429 in the dialect\'s shape with X-RateLimit-*, and recovers', async () => {
    const k = createKey(dataDir, { name: 'limited' }).key;
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await api(srv, k, 'GET', '/api/v1/environments'));
    assert.deepEqual(seen.map((r) => r.status), [200, 200, 200, 429]);
    assert.equal(seen[0].headers['x-ratelimit-limit'], '3');
    assert.equal(seen[0].headers['x-ratelimit-remaining'], '2');
    assert.ok(Number(seen[0].headers['x-ratelimit-reset']) >= Math.floor(Date.now() / 1000));
    assertError(seen[3], 429, 'rate limit exceeded', /retry in \d+ s/);
    assert.equal(seen[3].headers['x-ratelimit-remaining'], '0');
    // another principal is not affected
    const other = createKey(dataDir, { name: 'other' }).key;
    assert.equal((await api(srv, other, 'GET', '/api/v1/environments')).status, 200);
    await sleep(600); // 120 a minute: one token every 0.5 s
    assert.equal((await api(srv, k, 'GET', '/api/v1/environments')).status, 200);
    // logins are counted per address
    const l = [];
    for (let i = 0; i < 3; i++) l.push(await api(srv, null, 'POST', '/api/v1/auth/login', { username: 'x', password: 'y' }));
    assert.deepEqual(l.map((r) => r.status), [401, 401, 429]);
  });

});

describe('REST dialect 003: a quota is not a rate limit', () => {
  let srv;
  before(async () => {
    srv = await startServe({ config: { quota: { sessions: 1 }, rate_limits: { execute: { per_minute: 6, burst: 1 } } } });
  });
  after(async () => { await srv?.close(); });

  test('past a quota: 403 "limit exceeded" naming it; past the server\'s execute rate: 429 "rate limit exceeded" with X-RateLimit-*', async () => {
    const k = createKey(srv.dataDir, { name: 'quota-k' }).key;
    const env = await api(srv, k, 'POST', '/api/v1/environments', ENV('one'));
    assert.equal(env.status, 201, env.text);
    assertError(await api(srv, k, 'POST', '/api/v1/environments', ENV('two')), 403, 'limit exceeded', /quota: this key may hold 1 sessions and holds 1/);
    const first = await api(srv, k, 'POST', `/api/v1/environments/${env.json.id}/exec`, { command: ['true'] });
    assert.equal(first.status, 200, first.text);
    const second = await api(srv, k, 'POST', `/api/v1/environments/${env.json.id}/exec`, { command: ['true'] });
    assertError(second, 429, 'rate limit exceeded', /rate limit exceeded for execute calls/);
    assert.equal(second.headers['x-ratelimit-remaining'], '0', JSON.stringify(second.headers));
    assert.ok(Number(second.headers['retry-after']) >= 1, JSON.stringify(second.headers));
  });
});

describe('REST dialect 003: what logouts make the store keep', () => {
  let srv;
  before(async () => {
    srv = await startServe({ config: { revoked_tokens_per_user: 2 } });
    addUser(srv.dataDir, 'flo', 'flo-password-1');
    addUser(srv.dataDir, 'gus', 'gus-password-1');
  });
  after(async () => { await srv?.close(); });

  // each logout kept a row until its token expired (jwt_ttl, up to 30 days): one user logging in and
  // out in a loop grew revoked_tokens without bound
  test('past revoked_tokens_per_user a logout keeps no row: it ends every token the user had; other users keep theirs', async () => {
    const rows = (user) => spawnSync('sqlite3', ['-cmd', '.timeout 10000', path.join(srv.dataDir, 'mcpbox.db'),
      `SELECT count(*) FROM revoked_tokens WHERE user = '${user}'`], { encoding: 'utf8' }).stdout.trim();
    const me = async (t) => (await api(srv, t, 'GET', '/api/v1/auth/me')).status;
    const t = [];
    for (let i = 0; i < 4; i++) t.push(await login(srv, 'flo', 'flo-password-1'));
    const gus = await login(srv, 'gus', 'gus-password-1');
    for (let i = 0; i < 2; i++) assert.equal((await api(srv, t[i], 'POST', '/api/v1/auth/logout')).status, 204);
    assert.equal(rows('flo'), '2');
    assert.equal(await me(t[3]), 200, 'a logout ends only its token while the bound is not reached');
    assert.equal((await api(srv, t[2], 'POST', '/api/v1/auth/logout')).status, 204);
    assert.equal(rows('flo'), '2', 'no third row');
    assert.equal(await me(t[2]), 401, 'the token logged out is refused');
    assert.equal(await me(t[3]), 401, 'and so is every other token of the user issued until then');
    assert.equal(await me(gus), 200, "another user's token is untouched");
    assert.equal(await me(await login(srv, 'flo', 'flo-password-1')), 200, 'a new login works');
  });
});
