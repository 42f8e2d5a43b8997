// Stateful kernels (execute {kernel: true}, kernel_restart): a real ipykernel inside the session's sandbox,
// driven through the official SDK client over stdio.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClient, textOf, hostPidsMatching, poll, sleep, IS_ROOT } from './helpers.mjs';

let srv;
let sid;
before(async () => {
  srv = await startClient();
  // listTools first: the SDK then validates every structuredContent against the tool's outputSchema
  await srv.client.listTools();
  sid = (await srv.call('session_create', {})).structuredContent.session_id;
});
after(async () => { await srv?.close(); });

const cell = (code, extra = {}, opts = {}) =>
  srv.call('execute', { language: 'python', kernel: true, code, session_id: sid, ...extra }, opts);
function ok(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
  return r.structuredContent;
}
// The kernel's own process, found on the host by its connection file (unique per kernel).
async function connFile(session = sid) {
  const r = await srv.call('execute', { language: 'python', kernel: true, session_id: session,
    code: 'import sys\nprint([a for a in sys.argv if a.endswith("kernel.json")][0])' });
  return ok(r, 'argv').stdout.trim();
}

describe('stateful kernels', () => {
  test('variables and imports persist between calls; the result and stdout come back', async () => {
    const first = ok(await cell('import json\nx = 41\nprint("hello")\nx + 1'));
    assert.equal(first.stdout, 'hello\n');
    assert.equal(first.status, 'ok');
    assert.deepEqual(first.outputs.map((o) => [o.type, o.text]), [['execute_result', '42']]);
    assert.equal(first.kernel.language, 'python');
    assert.match(first.kernel.implementation, /python 3/);
    const second = await cell('print(json.dumps({"x": x}))');
    assert.equal(ok(second).stdout, '{"x": 41}\n', 'x and the json import survived');
    assert.ok(second.structuredContent.execution_count > first.execution_count);
    assert.equal(second.structuredContent.kernel.started, false, 'the same kernel');
    const info = (await srv.call('session_info', { session_id: sid })).structuredContent;
    assert.equal(info.kernels?.[0]?.language, 'python', JSON.stringify(info.kernels));
    assert.equal(info.kernels[0].state, 'running');
  });

  test('an open file stays open between calls', async () => {
    ok(await cell('f = open("kept.txt", "w")\nf.write("one ")'));
    ok(await cell('f.write("two")\nf.close()'));
    const r = await srv.call('file_read', { path: 'kept.txt', session_id: sid });
    assert.equal(textOf(r).includes('one two'), true, textOf(r));
  });

  test('a matplotlib figure comes back as a PNG image block', async () => {
    const r = await cell('import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title("mcpbox")\nplt.show()');
    ok(r);
    const imgs = r.content.filter((c) => c.type === 'image');
    assert.equal(imgs.length, 1, JSON.stringify(r.content.map((c) => c.type)));
    assert.equal(imgs[0].mimeType, 'image/png');
    const png = Buffer.from(imgs[0].data, 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const w = png.readUInt32BE(16), h = png.readUInt32BE(20);
    assert.ok(w >= 200 && w <= 2000 && h >= 150 && h <= 2000, `plausible size ${w}x${h}`);
    assert.ok(png.length > 5000 && png.length < 4 << 20, `plausible bytes ${png.length}`);
    const out = r.structuredContent.outputs.find((o) => o.mime === 'image/png');
    assert.equal(out.width, w);
    assert.equal(out.image, 1);
  });

  test('display(HTML(...)) comes back as its HTML', async () => {
    const r = await cell('from IPython.display import display, HTML\ndisplay(HTML("<b>bold move</b>"))');
    ok(r);
    assert.ok(textOf(r).includes('<b>bold move</b>'), textOf(r));
    const d = r.structuredContent.outputs[0];
    assert.equal(d.type, 'display_data');
    assert.equal(d.mime, 'text/html');
  });

  test('an exception comes back with its traceback and isError; the kernel keeps its state', async () => {
    const r = await cell('def inner():\n    return 1 / 0\ninner()');
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.status, 'error');
    assert.equal(r.structuredContent.error.ename, 'ZeroDivisionError');
    assert.match(textOf(r), /ZeroDivisionError/);
    assert.match(textOf(r), /inner\(\)/, 'the traceback names the frames');
    assert.doesNotMatch(textOf(r), /\x1b\[/, 'no terminal colours');
    assert.equal(ok(await cell('print(x)')).stdout, '41\n');
  });

  test('cancelling a call interrupts the cell and keeps the kernel and its variables', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const long = cell('import time\ntime.sleep(100)', {}, { signal: ac.signal }).then((r) => ({ r }), (e) => ({ e }));
    await sleep(1500);
    ac.abort('the test cancels');
    const got = await long;
    assert.ok(got.e, 'the SDK rejects the cancelled call');
    // the next cell runs soon: the sleep was interrupted, not waited out
    const r = await cell('print(x + 1)');
    assert.equal(ok(r).stdout, '42\n');
    assert.equal(r.structuredContent.kernel.started, false, 'the same kernel');
    assert.ok(Date.now() - t0 < 20000, `took ${Date.now() - t0} ms`);
  });

  test('a long cell sends progress (its latest line), so a client that resets its timeout on progress keeps waiting', async () => {
    const seen = [];
    // the client gives up after 1.5 s without progress; the cell takes 3.5 s
    const r = await cell('import time\nfor i in range(7):\n    print("step", i, flush=True)\n    time.sleep(0.5)\n"done"', {},
      { timeout: 1500, resetTimeoutOnProgress: true, onprogress: (p) => seen.push(p) });
    assert.match(ok(r, 'the long cell').stdout, /step 6/);
    assert.ok(seen.length >= 2, `progress came every second: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.map((p) => p.progress), seen.map((_, i) => i + 1), 'progress counts up');
    assert.match(seen.at(-1).message, /^step \d$/, 'with the latest output line');
  });

  test('what cells print goes to the session log too, with its stream', async () => {
    ok(await cell('import sys\nprint("cell-out-1")\nprint("cell-err-1", file=sys.stderr)'));
    ok(await cell('print("cell-out-2")'));
    const entries = (await srv.call('session_logs', { session_id: sid })).structuredContent.entries;
    const mine = entries.filter((e) => /^cell-(out|err)-\d/.test(e.text));
    assert.deepEqual(mine.map((e) => [e.stream, e.text]),
      [['stdout', 'cell-out-1\n'], ['stderr', 'cell-err-1\n'], ['stdout', 'cell-out-2\n']], JSON.stringify(entries));
    assert.equal(new Set(mine.map((e) => e.exec)).size, 1, 'one program: the kernel');
  });

  test('a timeout interrupts the cell; the kernel keeps its variables', async () => {
    const r = await cell('import time\ntime.sleep(30)', { timeout_s: 1 });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.timed_out, true);
    assert.match(textOf(r), /timed out after 1 s: interrupted/);
    assert.equal(ok(await cell('print(x)')).stdout, '41\n');
  });

  test('kernel_restart starts it fresh: the variables are gone', async () => {
    const r = await srv.call('kernel_restart', { session_id: sid });
    assert.equal(ok(r).was_running, true);
    const after = await cell('print(x)');
    assert.equal(after.isError, true);
    assert.equal(after.structuredContent.error.ename, 'NameError');
    ok(await cell('x = 7'));
  });

  test('a kernel killed from a shell is reported by the next call, which starts a new one', async () => {
    const conn = await connFile();
    assert.ok(hostPidsMatching(conn).length > 0, 'the kernel runs');
    const k = await srv.call('execute', { language: 'shell', session_id: sid, code: `pkill -KILL -f '${conn}'; echo done` });
    assert.ok(!k.isError, textOf(k));
    // the agent reports the death as soon as it reaps the kernel
    await poll(() => hostPidsMatching(conn).length === 0, { timeout: 5000 });
    await sleep(200);
    const r = await cell('print("fresh")');
    assert.equal(ok(r).stdout, 'fresh\n');
    assert.match(textOf(r), /previous python kernel ended \(the kernel died \(killed by signal 9/);
    assert.equal(r.structuredContent.kernel.started, true);
    assert.match(r.structuredContent.kernel.previous_died, /died/);
    const gone = await cell('x');
    assert.equal(gone.structuredContent.error.ename, 'NameError', 'the old state is gone');
  });

  test('a kernel counts against its session memory; over the limit it is killed and reported, not the server', async () => {
    // as an ordinary user there is no memory cgroup: the limit is each process's address space
    // (RLIMIT_AS), in which ipykernel's threads need more room than 128 MiB to start at all
    const limitMb = IS_ROOT ? 128 : 512;
    const small = (await srv.call('session_create', { memory_mb: limitMb })).structuredContent.session_id;
    ok(await srv.call('execute', { language: 'python', kernel: true, session_id: small, code: 'y = 1' }));
    const r = await srv.call('execute', { language: 'python', kernel: true, session_id: small,
      code: `b = bytearray(${limitMb + 100} * 1024 * 1024)\nb[::4096] = b"x" * len(b[::4096])` });
    assert.equal(r.isError, true, textOf(r));
    const sc = r.structuredContent;
    // with a memory cgroup the kernel is OOM-killed; with only RLIMIT_AS the allocation fails in Python
    assert.ok(sc.status === 'died' || sc.error?.ename === 'MemoryError', textOf(r));
    if (sc.status === 'died') assert.match(textOf(r), /out-of-memory killer/);
    // the server is fine and the session works (a new kernel if it died)
    const next = await srv.call('execute', { language: 'python', kernel: true, session_id: small, code: 'print("alive")' });
    assert.equal(ok(next).stdout, 'alive\n');
    ok(await srv.call('session_destroy', { session_id: small }));
  });

  test('destroying the session leaves no kernel process', async () => {
    const s2 = (await srv.call('session_create', {})).structuredContent.session_id;
    const conn = await connFile(s2);
    assert.ok(hostPidsMatching(conn).length > 0);
    ok(await srv.call('session_destroy', { session_id: s2 }));
    assert.ok(await poll(() => hostPidsMatching(conn).length === 0, { timeout: 5000 }),
      `left: ${JSON.stringify(hostPidsMatching(conn))}`);
  });

  test('the kernel runs tuned for latency (no sleep before the reply, no empty flush round trips), output intact', async () => {
    const r = ok(await cell('import sys\nk = get_ipython().kernel\nprint(k._execute_sleep, type(sys.stdout).flush.__name__)'));
    assert.equal(r.stdout, '0.0 f_wait\n', 'started by mcpbox\'s launcher with _execute_sleep=0');
    // the launcher's other cuts are in place: no signing key, no control-thread round trip, no busy or
    // execute_input messages, formatters without the decorator's argument binding
    const cuts = ok(await cell('from IPython.core import formatters as F\nK = type(k)\n' +
      'print(k.session.key, K._flush_control_queue.__name__, K._publish_status.__name__, K._publish_execute_input.__name__, ' +
      'F.PlainTextFormatter.__call__.__name__, F.BaseFormatter.__call__.__name__)'));
    assert.equal(cuts.stdout, "b'' no_control_flush publish_status <lambda> call call\n");
    // formatters still do their work: one registered for a type, a failing _repr_html_ shown as IPython shows it
    const fmt = ok(await cell('get_ipython().display_formatter.formatters["text/plain"].for_type(complex, lambda o, p, c: p.text("C!"))\n1j'));
    assert.deepEqual(fmt.outputs.map((o) => o.text), ['C!']);
    const bad = await cell('class Bad:\n    def _repr_html_(self): raise ValueError("no html")\n    def __repr__(self): return "Bad()"\nBad()');
    assert.ok(bad.structuredContent.outputs.some((o) => o.text === 'Bad()'), JSON.stringify(bad.structuredContent));
    assert.match(JSON.stringify(bad.structuredContent), /no html/, 'the formatter\'s error is reported');
    // every write still arrives, in order, before the cell ends (flushes with and without text in between)
    const many = ok(await cell('import sys, threading\nfor i in range(200):\n    print(i)\n    sys.stdout.flush()\n    sys.stdout.flush()\n' +
      't = threading.Thread(target=lambda: print("thread"))\nt.start(); t.join()\nprint("end", end="")'));
    assert.equal(many.stdout, [...Array(200).keys()].join('\n') + '\nthread\nend');
    // IOPub messages go out on the thread that makes them (under one lock), the reply straight onto the shell socket
    const direct = ok(await cell('from ipykernel import iostream\nprint(iostream.IOPubThread.send_multipart.__name__, ' +
      'iostream.OutStream._flush.__name__, k.shell_stream.send_multipart.__name__)'));
    assert.equal(direct.stdout, 'send_now flush_locked send_now\n');
    // a cell is transformed once (magics and shell escapes still work, also after a top-level await)
    const once = ok(await cell('from IPython.core.interactiveshell import InteractiveShell as S\nimport asyncio\n' +
      'await asyncio.sleep(0)\nprint(S.transform_cell.__name__, type(k).do_execute.__name__)'));
    assert.equal(once.stdout, 'transform_once do_execute\n');
    const magic = ok(await cell('a = !echo hi\n%time b = 6 * 7\nprint(a[0], b)'));
    assert.match(magic.stdout, /hi 42\n$/);
    // a thread printing without flushes (its text goes out on the IOPub thread's timer) while the cell's thread
    // displays: every line arrives, each stream in order, all before the cell's result, the displays in order
    const mixed = ok(await cell('import threading, time\nfrom IPython.display import display\n' +
      'def bg():\n    for i in range(300):\n        print("bg", i)\n        if i % 50 == 0: time.sleep(0.21)\n' +
      't = threading.Thread(target=bg)\nt.start()\nfor i in range(30):\n    display(i)\n    time.sleep(0.02)\nt.join()\n"done"'));
    assert.equal(mixed.stdout, [...Array(300).keys()].map((i) => `bg ${i}\n`).join(''));
    const shown = mixed.outputs.map((o) => o.text);
    assert.deepEqual(shown, [...[...Array(30).keys()].map(String), "'done'"], JSON.stringify(shown));
    // a forked child's output still reaches the cell through the parent's pipe (then the IOPub thread, which
    // needs a moment: ipykernel gives no way to wait for it)
    const child = ok(await cell('import os, time\npid = os.fork()\nif pid == 0:\n    print("child", flush=True)\n    os._exit(0)\n' +
      'os.waitpid(pid, 0)\ntime.sleep(0.5)\nprint("parent")'));
    assert.match(child.stdout, /^(child\nparent|parent\nchild)\n$/, JSON.stringify(child));
  });

  test('input() reads the lines of stdin in order, echoed like a terminal; past them EOFError', async () => {
    const r = ok(await cell('print("before")\nname = input("Name: ")\nage = input("Age: ")\nprint(f"{name} is {age}")',
      { stdin: 'Ada\r\n36\nunused\n' }));
    assert.equal(r.stdout, 'before\nName: Ada\nAge: 36\nAda is 36\n');
    const pw = ok(await cell('import getpass\nsecret = getpass.getpass("Password: ")\nlen(secret)', { stdin: 'hunter2\n' }));
    assert.equal(pw.stdout, 'Password: \n', 'a password is not echoed');
    assert.equal(pw.outputs[0].text, '7');
    const eof = await cell('a = input("first: ")\nb = input("second: ")', { stdin: 'only one' });
    assert.equal(eof.isError, true);
    assert.equal(eof.structuredContent.error.ename, 'EOFError');
    assert.equal(eof.structuredContent.stdout, 'first: only one\nsecond: ');
    const none = await cell('input()');
    assert.equal(none.structuredContent.error?.ename, 'EOFError', 'no stdin: input() sees its end at once');
    assert.equal(ok(await cell('a')).outputs[0].text, "'only one'", 'the kernel kept going');
  });

  test('arguments that do not go with a kernel are refused', async () => {
    const r = await cell('1', { background: true });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /"background" does not go with kernel: true/);
    const rb = await srv.call('execute', { language: 'ruby', kernel: true, code: '1', session_id: sid });
    assert.equal(rb.isError, true);
    assert.match(textOf(rb), /no kernel for language ruby \(kernels: python, javascript, shell\)/);
  });
});
