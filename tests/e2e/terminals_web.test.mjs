// Terminals in a browser: the page /sessions/{id}/terminals/{tid} (xterm.js from Debian's node-xterm) and its
// WebSocket, let in by the session's view (read-only) and control (read-write) tokens. Headless Chromium driven
// by playwright-core types into the page; the 'ws' client checks the protocol, the replay and the bounds.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { okResult, startServe, httpClient, createKey, poll, sleep, launchChromium } from './helpers.mjs';

const TTL_S = 6;	// view_token_ttl of this server: short, so expiry can be seen

let serve, cli, sid, otherSid;
before(async () => {
  serve = await startServe({ config: { view_token_ttl: `${TTL_S}s` } });
  cli = await httpClient(serve);
  await cli.client.listTools(); // the SDK then checks every structuredContent against its outputSchema
  sid = okResult(await cli.call('session_create', {}), 'session_create').session_id;
  otherSid = okResult(await cli.call('session_create', {}), 'session_create').session_id;
});
after(async () => { await cli?.close(); await serve?.close(); });

const open = async (args = {}) => okResult(await cli.call('terminal_open', { session_id: sid, ...args }), 'terminal_open');
const read = async (terminal_id, extra = {}) => okResult(await cli.call('terminal_read', { terminal_id, ...extra }), 'terminal_read');
const write = async (terminal_id, data, keys) => okResult(await cli.call('terminal_write', { terminal_id, data, ...(keys ? { keys } : {}) }), 'terminal_write');
async function screenMatching(id, re, timeout = 5000) {
  let last;
  const got = await poll(async () => { last = await read(id, { wait_ms: 200 }); return re.test(last.screen) ? last : null; },
    { timeout, interval: 50 });
  assert.ok(got, `screen never matched ${re}; last screen:\n${last?.screen}`);
  return got;
}
const tokenOf = (url) => new URL(url).searchParams.get('token');
const wsUrl = (sessionId, tid, token) => `${serve.base.replace('http', 'ws')}/sessions/${sessionId}/terminals/${tid}/ws${token !== undefined ? `?token=${token}` : ''}`;

/** A WebSocket to the terminal: resolves {ws, msgs, text(), states(), closed} once open, or {status} when refused. */
function connect(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const c = { ws, msgs: [], closed: false };
    c.text = () => Buffer.concat(c.msgs.filter((m) => m[0] === 0x6f).map((m) => m.subarray(1))).toString('utf8');
    c.states = () => c.msgs.filter((m) => m[0] === 0x73).map((m) => JSON.parse(m.subarray(1).toString()));
    ws.on('message', (d) => c.msgs.push(Buffer.from(d)));
    ws.on('open', () => resolve(c));
    ws.on('close', () => { c.closed = true; });
    ws.on('unexpected-response', (req, res) => resolve({ status: res.statusCode }));
    ws.on('error', () => resolve({ status: -1 }));
  });
}

describe('terminals in a browser', () => {
  test('terminal_open and terminal_list give view and control URLs; the page is refused without a token of this session', async () => {
    const t = await open();
    assert.match(t.view_url, new RegExp(`^${serve.base}/sessions/${sid}/terminals/${t.terminal_id}\\?token=[0-9a-f]+$`));
    assert.match(t.control_url, /\?token=[0-9a-f]+$/);
    assert.notEqual(tokenOf(t.view_url), tokenOf(t.control_url));
    assert.equal(t.token_ttl_s, TTL_S);
    const listed = okResult(await cli.call('terminal_list', { session_id: sid }), 'terminal_list').terminals.find((x) => x.terminal_id === t.terminal_id);
    assert.equal(tokenOf(listed.view_url), tokenOf(t.view_url));

    const get = (p, headers = {}) => fetch(`${serve.base}${p}`, { headers });
    const page = `/sessions/${sid}/terminals/${t.terminal_id}`;
    assert.equal((await get(page)).status, 403, 'no token, no key');
    assert.equal((await get(`${page}?token=0123456789abcdef0123456789abcdef`)).status, 403, 'a made-up token');
    // a token of another session of the same owner does not open this session's terminal
    const other = okResult(await cli.call('terminal_open', { session_id: otherSid }), 'terminal_open');
    assert.equal((await get(`${page}?token=${tokenOf(other.view_url)}`)).status, 403, "another session's token");
    // this session's token with another session's terminal id: no such terminal here
    assert.equal((await get(`/sessions/${sid}/terminals/${other.terminal_id}?token=${tokenOf(t.view_url)}`)).status, 404);
    // another principal's key is not the owner's
    const stranger = createKey(serve.dataDir, { name: 'stranger' }).key;
    assert.equal((await get(page, { Authorization: `Bearer ${stranger}` })).status, 403, "another principal's key");

    const viewPage = await get(new URL(t.view_url).pathname + new URL(t.view_url).search);
    assert.equal(viewPage.status, 200);
    const html = await viewPage.text();
    const cfg = JSON.parse(/window\.MCPBOX_TERM = (\{.*\});/.exec(html)[1]);
    assert.equal(cfg.control, false);
    assert.equal(cfg.ws, `/sessions/${sid}/terminals/${t.terminal_id}/ws?token=${tokenOf(t.view_url)}`);
    // the owner's key: a page with a control token (the key itself never goes into the page)
    const owned = await (await get(page, { Authorization: `Bearer ${serve.key}` })).text();
    assert.match(owned, /"control":true/);
    assert.ok(!owned.includes(serve.key), 'the key is not in the page');
    // xterm.js's files
    const js = await get('/xterm/xterm.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /javascript/);
    assert.match(await js.text(), /require\("\.\/public\/Terminal"\)/);
    assert.equal((await get('/xterm/xterm.css')).status, 200);
    assert.equal((await get('/xterm/..%2F..%2F..%2F..%2Fetc/passwd')).status, 404);
    assert.equal((await get('/xterm/nothing.js')).status, 404);
    okResult(await cli.call('terminal_close', { terminal_id: other.terminal_id }), 'terminal_close');
  });

  test('the WebSocket: refused without a valid token; a view token gets the state, the buffered output, live output, and cannot type', async () => {
    const t = await open();
    await screenMatching(t.terminal_id, /\$\s*$/m);
    await write(t.terminal_id, 'echo before-$((20+3))', ['Enter']);
    await screenMatching(t.terminal_id, /^before-23$/m);
    assert.equal((await connect(wsUrl(sid, t.terminal_id))).status, 403, 'no token');
    assert.equal((await connect(wsUrl(sid, t.terminal_id, 'ffffffffffffffffffffffffffffffff'))).status, 403, 'a made-up token');
    assert.equal((await connect(wsUrl(otherSid, t.terminal_id, tokenOf(t.view_url)))).status, 403, "this token on another session's path");
    const other = okResult(await cli.call('terminal_open', { session_id: otherSid }), 'terminal_open');
    assert.equal((await connect(wsUrl(sid, other.terminal_id, tokenOf(t.view_url)))).status, 404, "another session's terminal id");
    okResult(await cli.call('terminal_close', { terminal_id: other.terminal_id }), 'terminal_close');

    const v = await connect(wsUrl(sid, t.terminal_id, tokenOf(t.view_url)));
    assert.ok(v.ws, `view socket refused: ${v.status}`);
    await poll(() => /before-23/.test(v.text()), { timeout: 3000 });
    assert.deepEqual(v.states()[0], { rows: 24, cols: 80, state: 'running', control: false });
    assert.match(v.text(), /before-23/, 'the buffered output is replayed');
    // live output
    await write(t.terminal_id, 'echo live-$((40+2))', ['Enter']);
    assert.ok(await poll(() => /live-42/.test(v.text()), { timeout: 3000 }), 'live output reaches the viewer');
    // resize by the agent: the viewer is told
    okResult(await cli.call('terminal_resize', { terminal_id: t.terminal_id, rows: 30, cols: 100 }), 'terminal_resize');
    assert.ok(await poll(() => v.states().some((s) => s.rows === 30 && s.cols === 100), { timeout: 3000 }), 'the new size is sent');
    // typing with a view token does nothing
    v.ws.send(Buffer.from('echo typed-by-viewer\r'));
    await sleep(400);
    assert.doesNotMatch((await read(t.terminal_id, { wait_ms: 200 })).screen, /typed-by-viewer/);
    assert.equal(v.closed, false);
    // ... and a viewer that keeps sending is closed
    for (let i = 0; i < 20 && !v.closed; i++) { v.ws.send(Buffer.alloc(8192, 0x61)); await sleep(10); }
    assert.ok(await poll(() => v.closed, { timeout: 3000 }), 'a read-only viewer flooding input is closed');
    assert.doesNotMatch((await read(t.terminal_id)).screen, /aaaa/);

    // a control token types; closing the terminal ends the socket with the state "closed"
    const c = await connect(wsUrl(sid, t.terminal_id, tokenOf(t.control_url)));
    assert.ok(c.ws, `control socket refused: ${c.status}`);
    await poll(() => c.states().length > 0, { timeout: 3000 });
    assert.equal(c.states()[0].control, true);
    c.ws.send(Buffer.from('echo typed-$((6*7))-by-control\r'));
    await screenMatching(t.terminal_id, /^typed-42-by-control$/m);
    okResult(await cli.call('terminal_close', { terminal_id: t.terminal_id }), 'terminal_close');
    assert.ok(await poll(() => c.closed, { timeout: 3000 }), 'the socket ends with its terminal');
    assert.equal(c.states().at(-1).state, 'closed');
  });

  test('tokens expire: an old view URL gets 403', async () => {
    const t = await open();
    const url = t.view_url;
    assert.equal((await fetch(url)).status, 200);
    await sleep(TTL_S * 1000 + 300);
    assert.equal((await fetch(url)).status, 403, 'an expired token');
    assert.equal((await connect(wsUrl(sid, t.terminal_id, tokenOf(url)))).status, 403, 'an expired token on the socket');
    okResult(await cli.call('terminal_close', { terminal_id: t.terminal_id }), 'terminal_close');
  });

  // Tokens of this server live TTL_S seconds: one is taken only when the browser is ready to use it. A
  // busy host can take longer than that to load the page and open its socket: then again, with a new one.
  async function openWithFreshToken(page, terminalId, which, onRetry = () => {}) {
    for (let attempt = 1; ; attempt++) {
      const t = okResult(await cli.call('terminal_list', { session_id: sid }), 'terminal_list').terminals.find((x) => x.terminal_id === terminalId);
      await page.goto(t[which]);
      try {
        await page.waitForFunction(() => window.mcpboxOpen && window.mcpboxState, null, { timeout: 15000 });
        return;
      } catch (e) {
        if (attempt >= 3) throw e;	// a page that never opens, three times over, is broken
        onRetry();
      }
    }
  }

  test('Chromium: the control URL types into the shell, the view URL shows it and types nothing', async (t) => {
    const browser = await launchChromium(t);
    if (!browser) return;
    try {
      const term = await open();
      await screenMatching(term.terminal_id, /\$\s*$/m);
      await write(term.terminal_id, 'echo already-$((1+1))', ['Enter']);
      await screenMatching(term.terminal_id, /^already-2$/m);
      let errors = [];
      const page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(String(e)));
      await openWithFreshToken(page, term.terminal_id, 'control_url', () => { errors = []; });
      assert.deepEqual(errors, []);
      // the replay drew what was there before the page opened (xterm.js's own buffer, read through its API)
      const shown = () => page.evaluate(() => { const x = window.mcpboxTerminal; x.selectAll(); const s = x.getSelection(); x.clearSelection(); return s; });
      assert.ok(await poll(async () => /already-2/.test(await shown()), { timeout: 3000, interval: 100 }), 'the page shows the earlier output');
      await page.click('#term');
      await page.keyboard.type('echo from-browser-$((6*7))');
      await page.keyboard.press('Enter');
      await screenMatching(term.terminal_id, /^from-browser-42$/m);
      assert.ok(await poll(async () => /from-browser-42/.test(await shown()), { timeout: 3000, interval: 100 }), 'the page shows the answer');
      // the agent resizes: the page follows
      okResult(await cli.call('terminal_resize', { terminal_id: term.terminal_id, rows: 20, cols: 90 }), 'terminal_resize');
      assert.ok(await poll(() => page.evaluate(() => window.mcpboxTerminal.cols === 90 && window.mcpboxTerminal.rows === 20),
        { timeout: 3000, interval: 100 }), 'the page takes the new size');

      // the view URL: shows live output, typing does nothing
      const view = await browser.newPage();
      await openWithFreshToken(view, term.terminal_id, 'view_url');
      assert.equal(await view.evaluate(() => window.mcpboxState.control), false);
      await view.click('#term');
      await view.keyboard.type('echo from-viewer');
      await view.keyboard.press('Enter');
      await sleep(500);
      assert.doesNotMatch((await read(term.terminal_id, { wait_ms: 200 })).screen, /from-viewer/, 'the view URL must not type');
      await write(term.terminal_id, 'echo seen-by-$((2*5))', ['Enter']);
      const viewShown = () => view.evaluate(() => { const x = window.mcpboxTerminal; x.selectAll(); const s = x.getSelection(); x.clearSelection(); return s; });
      assert.ok(await poll(async () => /seen-by-10/.test(await viewShown()), { timeout: 3000, interval: 100 }), 'the viewer sees live output');
      okResult(await cli.call('terminal_close', { terminal_id: term.terminal_id }), 'terminal_close');
      assert.ok(await poll(() => view.evaluate(() => window.mcpboxClosed === true), { timeout: 3000, interval: 100 }), 'the page hears the end');
    } finally {
      await browser.close();
    }
  });
});
