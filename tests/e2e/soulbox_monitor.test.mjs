// Seed API 004, SoulBox: monitoring and alerts (server/rest/soulbox_monitor.c) with curl-like requests and
// the `ws` WebSocket client: a failing execution fires an alert rule from the config, it is listed,
// acknowledged and resolved over /api/alerts; /api/metrics, /api/health, /api/metrics/performance from
// measured history; /ws/monitor pushes subscribed metrics at an interval. Bad input and missing credentials
// are refused in the document's envelope.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServe, createKey, poll, sleep, IS_ROOT } from './helpers.mjs';
import { sb, assertError } from './soulbox_client.mjs';

const ISO_S = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** A WebSocket to /ws/monitor: {ws, messages, next(pred)}; rejects with the refusal's status. */
function monitor(srv, key, path = '/ws/monitor') {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${path}`, { headers: key ? { 'X-API-Key': key } : {} });
    const messages = [];
    const waiters = [];
    ws.on('message', (d) => {
      const m = { at: Date.now(), ...JSON.parse(d.toString()) };
      messages.push(m);
      for (const w of [...waiters]) w();
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      messages,
      send: (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)),
      next(pred, timeout = 8000) {
        return new Promise((res, rej) => {
          const check = () => {
            const i = messages.findIndex(pred);
            if (i < 0) return false;
            waiters.splice(waiters.indexOf(check), 1);
            clearTimeout(timer);
            res(messages.splice(i, 1)[0]);
            return true;
          };
          const timer = setTimeout(() => { waiters.splice(waiters.indexOf(check), 1); rej(new Error(`no such message within ${timeout} ms: ${JSON.stringify(messages)}`)); }, timeout);
          waiters.push(check);
          check();
        });
      },
    }));
  });
}

describe('soulbox (004): monitoring and alerts', () => {
  let srv;
  let alice;
  before(async () => {
    srv = await startServe({
      config: {
        alert_interval: '1s',
        alerts: [{ name: 'Failed executions', metric: 'failed_executions', op: '>', threshold: 0, severity: 'critical' }],
        compat: { soulbox: { rate_limits: { requests: 10000, executions: 10000, uploads: 10000 } } },
      },
    });
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
  });
  after(async () => { await srv?.close(); });

  test('unauthenticated requests are AUTHENTICATION_REQUIRED', async () => {
    for (const p of ['/api/alerts', '/api/metrics', '/api/health', '/api/metrics/performance', '/compat/soulbox/api/alerts']) {
      assertError(await sb(srv, null, 'GET', p), 401, 'AUTHENTICATION_REQUIRED');
    }
    assertError(await sb(srv, 'mcpbox_wrong', 'POST', '/api/alerts/alert_x/acknowledge', {}), 401, 'AUTHENTICATION_REQUIRED');
    // refused in the document's error envelope
    const envelope = (e) => e.status === 401 && JSON.parse(e.body).error.code === 'AUTHENTICATION_REQUIRED';
    await assert.rejects(monitor(srv, null), envelope);
    await assert.rejects(monitor(srv, 'mcpbox_wrong'), envelope);
  });

  test('a failing execution fires the rule; listed, acknowledged and resolved over /api/alerts', async () => {
    const ex = await sb(srv, alice, 'POST', '/api/execute', { language: 'python', code: 'import sys\nsys.exit(2)' });
    assert.equal(ex.status, 200, ex.text);
    assert.equal(ex.json.exit_code, 2);

    let alert;
    await poll(async () => {
      const r = await sb(srv, alice, 'GET', '/api/alerts?status=active&severity=critical');
      assert.equal(r.status, 200, r.text);
      alert = r.json.alerts.find((a) => a.rule_name === 'Failed executions');
      return alert;
    }, { timeout: 6000, interval: 250 });
    assert.ok(alert, 'the rule fired');
    for (const k of ['alert_id', 'rule_name', 'severity', 'status', 'message', 'triggered_at', 'value', 'threshold']) assert.ok(k in alert, k);
    assert.match(alert.alert_id, /^alert_[0-9a-f]{12}$/);
    assert.equal(alert.severity, 'critical');
    assert.equal(alert.status, 'active');
    assert.equal(alert.value, 1);
    assert.equal(alert.threshold, 0);
    assert.match(alert.triggered_at, ISO_S);
    assert.match(alert.message, /failed_executions is 1/);

    // bad input
    assertError(await sb(srv, alice, 'GET', '/api/alerts?status=open'), 400, 'VALIDATION_ERROR', 'status');
    assertError(await sb(srv, alice, 'GET', '/api/alerts?severity=loud'), 400, 'VALIDATION_ERROR', 'severity');
    assertError(await sb(srv, srv.key, 'POST', '/api/alerts/alert_000000000000/acknowledge', { comment: 'x' }), 404, 'RESOURCE_NOT_FOUND');
    assertError(await sb(srv, srv.key, 'POST', `/api/alerts/${alert.alert_id}/resolve`, { comment: 42 }), 400, 'VALIDATION_ERROR', 'comment');
    assertError(await sb(srv, srv.key, 'POST', `/api/alerts/${alert.alert_id}/resolve`, '{not json'), 400, 'VALIDATION_ERROR', 'body');
    // only administrators act
    assertError(await sb(srv, alice, 'POST', `/api/alerts/${alert.alert_id}/acknowledge`, { comment: 'mine' }), 403, 'INSUFFICIENT_PERMISSIONS');

    const ack = await sb(srv, srv.key, 'POST', `/api/alerts/${alert.alert_id}/acknowledge`, { comment: 'Investigating the issue' });
    assert.equal(ack.status, 200, ack.text);
    assert.equal(ack.json.status, 'acknowledged');
    assert.equal(ack.json.acknowledged_comment, 'Investigating the issue');
    assert.match(ack.json.acknowledged_at, ISO_S);
    const listed = await sb(srv, alice, 'GET', '/api/alerts?status=acknowledged');
    assert.deepEqual(listed.json.alerts.map((a) => a.alert_id), [alert.alert_id]);
    assert.equal(listed.headers['x-pagination-total'], '1');

    const res = await sb(srv, srv.key, 'POST', `/compat/soulbox/api/alerts/${alert.alert_id}/resolve`, { comment: 'Issue has been fixed' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 'resolved');
    assert.equal(res.json.resolved_comment, 'Issue has been fixed');
    assertError(await sb(srv, srv.key, 'POST', `/api/alerts/${alert.alert_id}/resolve`, {}), 409, 'VALIDATION_ERROR');

    const metrics = await sb(srv, alice, 'GET', '/api/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.text, /mcpbox_alerts\{status="resolved",severity="critical"\} 1/);
    assert.match(metrics.text, /mcpbox_sessions\{state="running"\}/);
  });

  test('/api/health checks the database and the sandbox service', async () => {
    const r = await sb(srv, alice, 'GET', '/api/health');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'healthy');
    assert.equal(typeof r.json.version, 'string');
    assert.equal(typeof r.json.uptime, 'number');
    assert.deepEqual(r.json.components.map((c) => c.name), ['database', 'container_manager']);
    for (const c of r.json.components) {
      assert.equal(c.status, 'healthy', JSON.stringify(c));
      assert.match(c.last_check, ISO_S);
      assert.ok(Date.now() - Date.parse(c.last_check) < 5000, 'checked within the last interval');
    }
    const again = await sb(srv, alice, 'GET', '/compat/soulbox/api/health');
    assert.equal(again.status, 200);
  });

  test('/api/metrics/performance: measured history, component filter, bad durations and components', async () => {
    await sb(srv, alice, 'POST', '/api/execute', { language: 'python', code: 'print(1)' });
    await sleep(1200); // one more sample
    const r = await sb(srv, alice, 'GET', '/api/metrics/performance?duration=1h');
    assert.equal(r.status, 200, r.text);
    const p = r.json;
    for (const k of ['cpu_usage', 'memory_usage']) {
      for (const f of ['current', 'average', 'peak']) assert.equal(typeof p[k][f], 'number', `${k}.${f}: ${r.text}`);
      assert.ok(p[k].peak >= p[k].average && p[k].current >= 0 && p[k].peak <= 100, r.text);
    }
    assert.equal(typeof p.container_metrics.total_containers, 'number');
    assert.equal(typeof p.container_metrics.running_containers, 'number');
    assert.ok(p.container_metrics.avg_startup_time > 0, r.text);
    assert.ok(p.execution_metrics.total_executions >= 2, r.text);
    assert.ok(p.execution_metrics.avg_execution_time > 0, r.text);
    assert.ok(p.execution_metrics.success_rate > 0 && p.execution_metrics.success_rate < 100, r.text);
    assert.ok(p.samples >= 2, r.text);

    const cpu = await sb(srv, alice, 'GET', '/api/metrics/performance?component=cpu&duration=24h');
    assert.equal(cpu.status, 200, cpu.text);
    assert.ok(cpu.json.cpu_usage && !cpu.json.memory_usage && !cpu.json.execution_metrics, cpu.text);
    const ex = await sb(srv, alice, 'GET', '/api/metrics/performance?component=execution_metrics');
    assert.ok(ex.json.execution_metrics && !ex.json.container_metrics, ex.text);

    assertError(await sb(srv, alice, 'GET', '/api/metrics/performance?component=gpu'), 400, 'VALIDATION_ERROR', 'component');
    assertError(await sb(srv, alice, 'GET', '/api/metrics/performance?duration=9d'), 400, 'VALIDATION_ERROR');
    assertError(await sb(srv, alice, 'GET', '/api/metrics/performance?duration=soon'), 400, 'VALIDATION_ERROR');
  });

  test('/ws/monitor pushes subscribed metrics at the interval; bad messages get error frames', async () => {
    const m = await monitor(srv, alice);
    try {
      m.send({ type: 'subscribe', metrics: ['cpu_usage', 'memory_usage', 'active_containers'], interval: 1 });
      const sub = await m.next((x) => x.type === 'subscribed');
      assert.equal(sub.interval, 1);
      const first = await m.next((x) => x.type === 'metric_update' && x.metric === 'cpu_usage');
      assert.equal(typeof first.value, 'number');
      assert.match(first.timestamp, ISO_S);
      const mem = await m.next((x) => x.type === 'metric_update' && x.metric === 'memory_usage');
      assert.ok(mem.value > 0 && mem.value <= 100, JSON.stringify(mem));
      const act = await m.next((x) => x.type === 'metric_update' && x.metric === 'active_containers');
      assert.ok(Number.isInteger(act.value) || act.value === null, JSON.stringify(act));
      const second = await m.next((x) => x.type === 'metric_update' && x.metric === 'cpu_usage');
      assert.ok(second.at - first.at >= 700, `pushed at the interval (${second.at - first.at} ms apart)`);

      m.send({ type: 'subscribe', metrics: ['cpu_usage', 'gpu_usage'] });
      const err = await m.next((x) => x.type === 'error');
      assert.equal(err.error.code, 'VALIDATION_ERROR');
      assert.match(err.error.details.reason, /unknown metric "gpu_usage"/);
      m.send({ type: 'subscribe', metrics: ['cpu_usage'], interval: 0 });
      assert.equal((await m.next((x) => x.type === 'error')).error.details.field, 'interval');
      m.send('not json');
      assert.equal((await m.next((x) => x.type === 'error')).error.code, 'VALIDATION_ERROR');
      m.send({ type: 'ping' });
      await m.next((x) => x.type === 'pong');
      m.send({ type: 'unsubscribe' });
      await m.next((x) => x.type === 'unsubscribed');
      m.messages.length = 0;
      await sleep(1500);
      assert.equal(m.messages.filter((x) => x.type === 'metric_update').length, 0, 'nothing after unsubscribe');
      m.send('x'.repeat(5000));
      await new Promise((resolve) => m.ws.on('close', resolve));
    } finally {
      m.ws.terminate();
    }
    const c = await monitor(srv, alice, '/compat/soulbox/ws/monitor');
    c.send({ type: 'subscribe', metrics: ['sessions', 'sandbox_memory_bytes'], interval: 1 });
    const u = await c.next((x) => x.type === 'metric_update' && x.metric === 'sessions');
    assert.equal(typeof u.value, 'number');
    // the sandboxes' memory cgroup (as root here; an ordinary user has none: null)
    const mem = await c.next((x) => x.type === 'metric_update' && x.metric === 'sandbox_memory_bytes');
    if (IS_ROOT) assert.ok(mem.value > 0, JSON.stringify(mem));
    else assert.ok(mem.value === null || mem.value > 0, JSON.stringify(mem));
    c.ws.close();
  });
});
