// Alerts: rules from the config fire on real conditions (failed executions, running sessions), are seen
// over MCP, acknowledged and resolved by an administrator, counted in /metrics, kept across a restart.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, IS_ROOT, makeDataDir, startServe, createKey, httpClient, poll } from './helpers.mjs';

const CONFIG = {
  alert_interval: '1s',
  alerts: [
    { name: 'failures', metric: 'failed_executions', op: '>', threshold: 0, severity: 'critical', for: 0 },
    { name: 'busy', metric: 'sessions', op: '>=', threshold: 1, severity: 'info', for: '1s' },
  ],
};

const data = (r) => r.structuredContent;

async function alertsOf(c, args = {}) {
  const r = await c.call('alert_list', args);
  assert.ok(!r.isError, JSON.stringify(r));
  return data(r).alerts;
}

describe('alerts', () => {
  test('a bad rule stops the server with a message naming the rule and the field', () => {
    const dir = makeDataDir();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
      alerts: [{ name: 'x', metric: 'cpu_percent', threshold: 90, severity: 'loud' }],
    }));
    const r = spawnSync(BIN, ['stdio', '--data', dir], { input: '', timeout: 5000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr.toString(), /alerts\[0\] \(x\): severity must be info, warning, critical or emergency/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('failed executions fire, an admin acknowledges and resolves, the rule re-fires as a new alert', async () => {
    const dir = makeDataDir();
    const srv = await startServe({ dataDir: dir, config: CONFIG });
    after(() => srv.close().catch(() => {}));
    const admin = await httpClient(srv);
    const user = createKey(dir, { name: 'tenant' });
    const tenant = await httpClient(srv, { key: user.key });
    after(() => Promise.all([admin.close(), tenant.close()]));

    assert.deepEqual((await alertsOf(admin)).filter((a) => a.rule_name === 'failures'), [], 'nothing failed yet');
    const ex = await tenant.call('execute', { language: 'shell', code: 'exit 3' });
    assert.equal(data(ex).exit_code, 3);

    const fired = await poll(async () => (await alertsOf(admin, { status: 'active', severity: 'critical' }))
      .find((a) => a.rule_name === 'failures'), { timeout: 5000, interval: 200 });
    assert.ok(fired, 'the failures rule fired');
    assert.match(fired.alert_id, /^alert_[0-9a-f]{12}$/);
    assert.equal(fired.value, 1);
    assert.equal(fired.threshold, 0);
    assert.equal(fired.metric, 'failed_executions');
    assert.match(fired.message, /failed_executions is 1 \(> 0\)/);
    assert.ok(!Number.isNaN(Date.parse(fired.triggered_at)));

    // the running session fires "busy" once it has held for 1 s
    const busy = await poll(async () => (await alertsOf(admin, { severity: 'info' }))
      .find((a) => a.rule_name === 'busy' && a.status === 'active'), { timeout: 5000, interval: 200 });
    assert.ok(busy, 'sessions >= 1 for 1s fired');

    // every key lists them; only administrators act
    const seen = (await alertsOf(tenant)).find((a) => a.alert_id === fired.alert_id);
    assert.ok(seen, 'the tenant sees the alert');
    const denied = await tenant.call('alert_acknowledge', { alert_id: fired.alert_id });
    assert.equal(denied.isError, true);
    assert.match(denied.content[0].text, /only an administrator/);

    const bad = await admin.call('alert_list', { status: 'open' });
    assert.equal(bad.isError, true, 'an unknown status is refused');
    const unknown = await admin.call('alert_resolve', { alert_id: 'alert_000000000000' });
    assert.equal(unknown.isError, true);
    assert.match(unknown.content[0].text, /not found/);

    const ack = await admin.call('alert_acknowledge', { alert_id: fired.alert_id, comment: 'looking into it' });
    assert.ok(!ack.isError, JSON.stringify(ack));
    assert.equal(data(ack).status, 'acknowledged');
    assert.equal(data(ack).acknowledged_comment, 'looking into it');
    assert.ok((await alertsOf(admin, { status: 'acknowledged' })).some((a) => a.alert_id === fired.alert_id));

    const metrics = await (await fetch(`${srv.base}/metrics`, { headers: { Authorization: `Bearer ${srv.key}` } })).text();
    assert.match(metrics, /mcpbox_alerts\{status="acknowledged",severity="critical"\} 1/);
    assert.match(metrics, /mcpbox_alerts\{status="active",severity="info"\} 1/);

    const res = await admin.call('alert_resolve', { alert_id: fired.alert_id, comment: 'fixed' });
    assert.ok(!res.isError, JSON.stringify(res));
    assert.equal(data(res).status, 'resolved');
    assert.equal(data(res).resolved_comment, 'fixed');
    const again = await admin.call('alert_resolve', { alert_id: fired.alert_id });
    assert.equal(again.isError, true);
    assert.match(again.content[0].text, /resolved already/);

    // the failure is still within the 5-minute window: the rule fires again, as a new alert
    const refired = await poll(async () => (await alertsOf(admin, { status: 'active', severity: 'critical' }))
      .find((a) => a.rule_name === 'failures'), { timeout: 5000, interval: 200 });
    assert.ok(refired && refired.alert_id !== fired.alert_id, 'a new alert with a new id');

    // the session goes: "busy" resolves by itself
    const sessions = data(await tenant.call('session_list', {})).sessions;
    for (const s of sessions) await tenant.call('session_destroy', { session_id: s.session_id });
    const cleared = await poll(async () => (await alertsOf(admin, { status: 'resolved', severity: 'info' }))
      .find((a) => a.alert_id === busy.alert_id), { timeout: 5000, interval: 200 });
    assert.ok(cleared, 'busy resolved when no session runs');
    assert.equal(cleared.resolved_by, 'auto');
    const tenantView = (await alertsOf(tenant, { status: 'resolved' })).find((a) => a.alert_id === fired.alert_id);
    assert.equal(tenantView.resolved_by, undefined, 'who resolved is not shown to other keys');

    // a restart keeps them; an open alert whose rule is no longer configured is resolved at start
    await admin.close();
    await tenant.close();
    await srv.stop();
    const srv2 = await startServe({ dataDir: dir, config: { ...CONFIG, alerts: [CONFIG.alerts[1]] }, key: srv.key });
    after(() => srv2.close().catch(() => {}));
    const admin2 = await httpClient(srv2);
    after(() => admin2.close());
    const all = await alertsOf(admin2);
    assert.equal(all.find((a) => a.alert_id === fired.alert_id)?.resolved_comment, 'fixed');
    assert.equal(all.find((a) => a.alert_id === busy.alert_id)?.status, 'resolved');
    const orphan = all.find((a) => a.alert_id === refired.alert_id);
    assert.equal(orphan?.status, 'resolved');
    assert.equal(orphan.resolved_by, 'config');
  });

  // cgroup v1 hosts often mount cpuacct apart from cpu (this one does): the sandboxes' CPU time
  // must be read where cpuacct is, or the metric stays null
  test('sandbox_cpu_percent measures a busy sandbox (cgroup v2, or v1 with cpuacct alone or with cpu)', async (t) => {
    if (!IS_ROOT) { t.skip('cgroups for sandboxes need root here'); return; }
    if (!fs.existsSync('/sys/fs/cgroup/cgroup.controllers') && !fs.existsSync('/sys/fs/cgroup/cpuacct')) {
      t.skip('no cgroup v2 and no v1 cpuacct on this host');
      return;
    }
    const srv = await startServe({ config: { alert_interval: '1s' } });
    const admin = await httpClient(srv);
    try {
      const busy = admin.call('execute', { language: 'python', code: 'import time\nend = time.time() + 4\nwhile time.time() < end: pass\nprint("done")' });
      let last;
      const seen = await poll(async () => {
        const r = await admin.call('server_metrics', { duration: '1m' });
        last = data(r).current?.sandbox_cpu_percent;
        return typeof last === 'number' && last > 10;
      }, { timeout: 8000, interval: 300 });
      assert.ok(seen, `sandbox_cpu_percent while a sandbox burns a CPU: ${JSON.stringify(last)}`);
      assert.equal(data(await busy).stdout, 'done\n');
    } finally {
      await admin.close();
      await srv.close();
    }
  });

  test('two servers on one data directory: a rule fires once; when its evaluator stops, the other takes over', { timeout: 60000 }, async () => {
    const dir = makeDataDir();
    const config = {
      alert_interval: '1s',
      alerts: [{ name: 'always', metric: 'memory_percent', op: '>', threshold: 0, severity: 'info', for: 0 }],
    };
    const a = await startServe({ dataDir: dir, config });
    const b = await startServe({ dataDir: dir, key: a.key });
    const cb = await httpClient(b);
    try {
      const ours = async (c) => (await alertsOf(c)).filter((x) => x.rule_name === 'always');
      assert.ok(await poll(async () => (await ours(cb)).length > 0, { timeout: 5000, interval: 200 }), 'the rule fired');
      await new Promise((r) => setTimeout(r, 3000)); // three more samples in each process
      let all = await ours(cb);
      assert.equal(all.length, 1, `one alert for the rule, not one per process: ${JSON.stringify(all.map((x) => [x.alert_id, x.status]))}`);
      const id = all[0].alert_id;
      await a.close({ keepData: true });
      await new Promise((r) => setTimeout(r, 3000)); // b takes the lock at its next sample
      all = await ours(cb);
      assert.deepEqual(all.map((x) => [x.alert_id, x.status]), [[id, 'active']], 'b carried on with the open alert');
      // b evaluates now: a resolve there lets the rule fire again, once
      const r = await cb.call('alert_resolve', { alert_id: id });
      assert.ok(!r.isError, JSON.stringify(r));
      assert.ok(await poll(async () => (await ours(cb)).some((x) => x.status === 'active'), { timeout: 5000, interval: 200 }), 'fired again');
      all = await ours(cb);
      assert.equal(all.length, 2, JSON.stringify(all.map((x) => [x.alert_id, x.status])));
    } finally {
      await cb.close();
      await b.close({ keepData: true });
      await a.close({ keepData: true }).catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
