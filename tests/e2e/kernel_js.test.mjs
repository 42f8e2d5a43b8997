// The JavaScript kernel (execute {kernel: true, language: "javascript"}): kernel/wrap_kernel.py, a
// Jupyter wrapper kernel on ipykernel, running cells in one Node.js process inside the session's
// sandbox; driven through the official SDK client over stdio.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startClient, textOf, treePidsMatching, stillAlive, poll, sleep, makeDataDir } from './helpers.mjs';

async function server(config) {
  const dataDir = makeDataDir();
  if (config) fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify(config));
  return startClient({ dataDir });
}

let srv;
let sid;
before(async () => {
  // no kernels started ahead here: the process counts below are the sessions' own (the pool has its test)
  srv = await server({ pool_kernels: false });
  await srv.client.listTools(); // the SDK then checks every structuredContent against the outputSchema
  sid = (await srv.call('session_create', {})).structuredContent.session_id;
});
after(async () => { await srv?.close(); });

const js = (code, extra = {}, opts = {}) =>
  srv.call('execute', { language: 'javascript', kernel: true, code, session_id: sid, ...extra }, opts);
function ok(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
  return r.structuredContent;
}
const drivers = () => treePidsMatching(srv.pid, 'node_driver.js').filter((p) => p.cmd.startsWith('/usr/bin/node'));

describe('the JavaScript kernel', () => {
  test('declarations, functions and required modules persist; stdout, stderr and the value come back', async () => {
    const first = ok(await js('const path = require("path");\nlet x = 41;\nfunction twice(n) { return 2 * n; }\n' +
      'console.log("hello");\nconsole.error("warn");\nx + 1'));
    assert.equal(first.stdout, 'hello\n');
    assert.equal(first.stderr, 'warn\n');
    assert.deepEqual(first.outputs.map((o) => [o.type, o.text]), [['execute_result', '42']]);
    assert.equal(first.kernel.language, 'javascript');
    assert.match(first.kernel.implementation, /javascript 2\d\./, 'Node.js version');
    const second = await js('path.join("a", String(twice(x)))');
    assert.deepEqual(ok(second).outputs.map((o) => o.text), ["'a/82'"]);
    assert.equal(second.structuredContent.kernel.started, false, 'the same kernel');
    assert.ok(second.structuredContent.execution_count > first.execution_count);
    // nodejs is another name for it: the same kernel
    const alias = ok(await js('x', { language: 'nodejs' }));
    assert.equal(alias.kernel.started, false);
    assert.equal(alias.outputs[0].text, '41');
    const info = (await srv.call('session_info', { session_id: sid })).structuredContent;
    assert.deepEqual(info.kernels.map((k) => [k.language, k.state]), [['javascript', 'running']]);
  });

  test('the working directory is /workspace and require() finds modules there', async () => {
    ok(await srv.call('file_write', { session_id: sid, path: 'lib/add.js', content: 'module.exports = (a, b) => a + b;' }));
    const r = ok(await js('const add = require("./lib/add");\n[process.cwd(), add(2, 3)]'));
    assert.equal(r.outputs[0].text, "[ '/workspace', 5 ]");
  });

  test('a thrown error comes back with the cell\'s stack and isError; the state stays', async () => {
    const r = await js('function inner() { throw new TypeError("bad input"); }\ninner()');
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.status, 'error');
    assert.equal(r.structuredContent.error.ename, 'TypeError');
    assert.equal(r.structuredContent.error.evalue, 'bad input');
    assert.match(textOf(r), /at inner \(cell\d+\.js:1:/, 'the frame in the cell');
    assert.doesNotMatch(textOf(r), /node_driver|node:vm/, 'the kernel\'s own frames are cut');
    const syntax = await js('let = = 1');
    assert.equal(syntax.structuredContent.error.ename, 'SyntaxError');
    assert.equal(ok(await js('x')).outputs[0].text, '41');
  });

  test('display() shows HTML and images: a PNG is an image block, bytes that are not one are left out', async () => {
    const r = await js('const png = require("fs").readFileSync("/usr/share/matplotlib/mpl-data/images/hand.png");\n' +
      'display.html("<b>bold</b>");\ndisplay.png(png);\ndisplay.png(Buffer.from("not a png"));\ndisplay({a: 1})');
    ok(r);
    const imgs = r.content.filter((c) => c.type === 'image');
    assert.equal(imgs.length, 1, JSON.stringify(r.content.map((c) => c.type)));
    assert.equal(imgs[0].mimeType, 'image/png');
    assert.deepEqual(Buffer.from(imgs[0].data, 'base64'), fs.readFileSync('/usr/share/matplotlib/mpl-data/images/hand.png'));
    assert.match(textOf(r), /not a valid image/);
    const types = r.structuredContent.outputs.map((o) => o.type);
    assert.deepEqual(types, ['display_data', 'display_data', 'display_data', 'display_data']);
    assert.ok(r.structuredContent.outputs[0].mimes.includes('text/html'));
    assert.equal(r.structuredContent.outputs[3].text, '{ a: 1 }');
  });

  test('a promise value is awaited; top-level await keeps its declarations, as in Node\'s REPL', async () => {
    const p = ok(await js('new Promise((r) => setTimeout(() => r("later"), 50))'));
    assert.equal(p.outputs[0].text, "'later'");
    const t = ok(await js('const fetched = await Promise.resolve(6);\nfetched * 7'));
    assert.equal(t.outputs[0].text, '42');
    assert.equal(ok(await js('fetched')).outputs[0].text, '6', 'the declaration made under await persists');
    const rej = await js('await Promise.reject(new RangeError("no"))');
    assert.equal(rej.structuredContent.error.ename, 'RangeError');
  });

  test('a timeout interrupts a busy loop and cancelling interrupts an await; the kernel and x stay', async () => {
    const t0 = Date.now();
    const r = await js('while (true) {}', { timeout_s: 1 });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.timed_out, true);
    assert.match(textOf(r), /timed out after 1 s: interrupted; the kernel keeps its state/);
    assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms (the 3 s grace would kill the kernel)`);
    const ac = new AbortController();
    const long = js('await new Promise((r) => setTimeout(r, 100000))', {}, { signal: ac.signal }).then((v) => ({ v }), (e) => ({ e }));
    await sleep(800);
    ac.abort('the test cancels');
    assert.ok((await long).e, 'the SDK rejects the cancelled call');
    const next = ok(await js('x'));
    assert.equal(next.outputs[0].text, '41');
    assert.equal(next.kernel.started, false, 'the same kernel');
  });

  test('kernel_restart {language: javascript} starts it fresh and ends the old Node.js process', async () => {
    const before = drivers();
    assert.equal(before.length, 1, JSON.stringify(before));
    assert.equal(ok(await srv.call('kernel_restart', { session_id: sid, language: 'javascript' })).was_running, true);
    assert.ok(await poll(() => stillAlive(before).length === 0, { timeout: 5000 }), 'the old node is gone');
    const r = await js('typeof x');
    assert.equal(ok(r).outputs[0].text, "'undefined'");
    assert.equal(drivers().length, 1);
  });

  test('Node.js killed from a shell: the next cell says so and runs in a new one', async () => {
    ok(await js('var kept = 1'));
    const k = await srv.call('execute', { language: 'shell', session_id: sid,
      code: 'pkill -KILL -f "^/usr/bin/node --expose-internals .*node_driver.js"; echo done' });
    assert.ok(!k.isError, textOf(k));
    await sleep(300);
    const r = ok(await js('typeof kept'));
    assert.match(r.stderr, /node exited \(status -9\) after the last cell: this cell runs in a new one/);
    assert.equal(r.outputs[0].text, "'undefined'");
  });

  test('the Python kernel of the same session is another process with its own state', async () => {
    ok(await srv.call('execute', { language: 'python', kernel: true, session_id: sid, code: 'x = "py"' }));
    ok(await js('var x2 = "js"'));
    const py = ok(await srv.call('execute', { language: 'python', kernel: true, session_id: sid, code: 'print(x)' }));
    assert.equal(py.stdout, 'py\n');
    const info = (await srv.call('session_info', { session_id: sid })).structuredContent;
    assert.deepEqual(info.kernels.map((k) => k.language).sort(), ['javascript', 'python']);
  });

  test('destroying the session leaves no Node.js kernel process', async () => {
    const s2 = (await srv.call('session_create', {})).structuredContent.session_id;
    ok(await srv.call('execute', { language: 'javascript', kernel: true, session_id: s2, code: '1' }));
    const mine = drivers();
    assert.equal(mine.length, 2, JSON.stringify(mine));
    ok(await srv.call('session_destroy', { session_id: s2 }));
    assert.ok(await poll(() => drivers().length === 1, { timeout: 5000 }), JSON.stringify(drivers()));
  });

  test('once JavaScript cells run, warm-pool sandboxes get a JavaScript kernel started ahead, beside Python\'s', async () => {
    const s = await server();
    try {
      const cellIn = async (sess, language, code) => {
        const r = await s.call('execute', { language, kernel: true, code, session_id: sess });
        assert.ok(!r.isError, textOf(r));
        return r.structuredContent;
      };
      const kernelsOf = async (sess) => ((await s.call('session_info', { session_id: sess })).structuredContent.kernels || [])
        .map((k) => [k.language, k.started_ahead === true]).sort();
      assert.equal((await cellIn(await s.call('session_create', {}).then((r) => r.structuredContent.session_id), 'python', '1')).kernel.started, true);
      const onlyPy = (await s.call('session_create', {})).structuredContent.session_id;
      assert.deepEqual(await kernelsOf(onlyPy), [['python', true]], 'JavaScript is not in use yet');
      assert.equal((await cellIn(onlyPy, 'javascript', '1')).kernel.started, true);
      const both = (await s.call('session_create', {})).structuredContent.session_id;
      assert.deepEqual(await kernelsOf(both), [['javascript', true], ['python', true]]);
      const r = await cellIn(both, 'javascript', 'let here = 1; here + 1');
      assert.equal(r.kernel.started_ahead, true, JSON.stringify(r.kernel));
      assert.equal(r.kernel.started, false);
      assert.equal(r.outputs[0].text, '2');
    } finally {
      await s.close();
    }
  });
});
