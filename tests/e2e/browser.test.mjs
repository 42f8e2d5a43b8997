// Browsers with CDP: browser_open starts Chromium on the session's display inside its sandbox;
// cdp_url (ws://HOST:PORT/sessions/{id}/cdp?token=...) is proxied by mcpbox over the main port and
// driven here by playwright-core's connectOverCDP and puppeteer-core's connect, unchanged: a page served inside the sandbox is
// opened, clicked, read and photographed. Foreign tokens, view tokens and no token are refused.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { startServe, httpClient, createKey, textOf, poll, treePidsMatching, stillAlive, makeDataDir } from './helpers.mjs';

const require = createRequire(import.meta.url);

function ok(r, what = '') {
  assert.ok(!r.isError, `${what} failed: ${textOf(r)}`);
  return r.structuredContent;
}

const PAGE = `<!doctype html><title>inside</title>
<button id="b" onclick="document.getElementById('out').textContent = 'clicked ' + (++window.n)">press</button>
<p id="out">not yet</p><script>window.n = 0</script>`;

// A WebSocket handshake by hand: the status line the server answers with.
async function wsStatus(url) {
  const u = new URL(url);
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => {
      sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
    let got = '';
    sock.on('data', (c) => { got += c.toString('latin1'); if (got.includes('\r\n')) { sock.destroy(); resolve(Number(got.split(' ')[1])); } });
    sock.on('error', reject);
    sock.setTimeout(10000, () => { sock.destroy(); reject(new Error('no answer to the handshake')); });
  });
}

describe('browser: Chromium inside the session, driven over the proxied CDP URL', { skip: !fs.existsSync('/usr/bin/chromium') && 'chromium not installed' }, () => {
  let srv, cli, sid, dataDir, chromium;
  before(async () => {
    ({ chromium } = require('playwright-core'));
    dataDir = makeDataDir();
    srv = await startServe({ dataDir });
    cli = await httpClient(srv);
    sid = ok(await cli.call('session_create', {})).session_id;
    ok(await cli.call('file_write', { session_id: sid, path: 'site/index.html', content: PAGE }));
    ok(await cli.call('execute', { session_id: sid, language: 'shell', background: true,
      code: 'cd site && exec python3 -m http.server 8000 --bind 127.0.0.1' }));
    await poll(async () => (ok(await cli.call('session_info', { session_id: sid })).ports || []).some((p) => p.port === 8000),
      { timeout: 15000, interval: 200 });
  });
  after(async () => { await cli?.close(); await srv?.close(); });

  test('browser_open starts Chromium on the display; session_info shows cdp_url', async () => {
    const r = ok(await cli.call('browser_open', { session_id: sid }), 'browser_open');
    assert.equal(r.status, 'running');
    assert.match(r.cdp_url, new RegExp(`^ws://127\\.0\\.0\\.1:${srv.port}/sessions/${sid}/cdp\\?token=[0-9a-f]{32}$`));
    const info = ok(await cli.call('session_info', { session_id: sid }));
    assert.equal(info.cdp_url, r.cdp_url);
    assert.equal(info.browser.status, 'running');
    assert.equal(info.display.status, 'running', 'the browser runs on the display');
    assert.ok(!(info.ports || []).some((p) => p.port === 9222), 'the DevTools port is not offered as a preview');
    // Chromium runs inside the sandbox, on :0
    const ps = ok(await cli.call('execute', { session_id: sid, language: 'shell', code: 'ps -eo args | grep -c "^/usr/lib/chromium/chromium"; xwininfo -root -tree -display :0 | grep -ci chromium' }));
    const [procs, windows] = ps.stdout.trim().split('\n').map(Number);
    assert.ok(procs >= 2, `chromium processes inside the sandbox: ${ps.stdout}`);
    assert.ok(windows >= 1, 'a Chromium window on the display');
  });

  test('connectOverCDP(cdp_url): open a page served inside the sandbox, click, read the DOM, screenshot', async () => {
    const { cdp_url: cdpUrl } = ok(await cli.call('session_info', { session_id: sid }));
    const browser = await chromium.connectOverCDP(cdpUrl, { timeout: 30000 });
    try {
      const ctx = browser.contexts()[0];
      const page = await ctx.newPage();
      await page.goto('http://127.0.0.1:8000/index.html');
      assert.equal(await page.title(), 'inside');
      assert.equal(await page.textContent('#out'), 'not yet');
      await page.click('#b');
      await page.click('#b');
      assert.equal(await page.textContent('#out'), 'clicked 2');
      const png = await page.screenshot();
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
      assert.ok(png.length > 1000);
      // what the agent sees over MCP is the same page on the display
      const shot = await cli.call('screenshot', { session_id: sid });
      assert.ok(!shot.isError, textOf(shot));
      await page.close();
    } finally {
      await browser.close(); // disconnects; the browser inside keeps running
    }
    // browser_open with a url on a running browser opens it in a new tab
    const again = ok(await cli.call('browser_open', { session_id: sid, url: 'http://127.0.0.1:8000/index.html?tab=2' }));
    assert.equal(again.cdp_url, cdpUrl);
    // the http:// form (Playwright appends /json/version/ to the whole URL) works too
    const browser2 = await chromium.connectOverCDP(cdpUrl.replace(/^ws:/, 'http:'), { timeout: 30000 });
    try {
      assert.ok(browser2.contexts().length >= 1);
      const pages = browser2.contexts()[0].pages();
      assert.ok(pages.some((p) => p.url() === 'http://127.0.0.1:8000/index.html?tab=2'),
        `the tab browser_open opened: ${pages.map((p) => p.url())}`);
    } finally {
      await browser2.close();
    }
    const v = await fetch(`${srv.base}/sessions/${sid}/cdp/json/version`, { headers: { authorization: `Bearer ${srv.key}` } });
    assert.equal(v.status, 200);
    const body = await v.json();
    assert.match(body.Browser, /Chrome\//);
    assert.match(body.webSocketDebuggerUrl, new RegExp(`^ws://127\\.0\\.0\\.1:${srv.port}/sessions/${sid}/cdp\\?token=[0-9a-f]{32}$`));
  });

  test('Puppeteer connect({browserWSEndpoint: cdp_url}): the same page, clicked, read and photographed; a wrong token refused', async () => {
    const puppeteer = require('puppeteer-core');
    const { cdp_url: cdpUrl } = ok(await cli.call('session_info', { session_id: sid }));
    const browser = await puppeteer.connect({ browserWSEndpoint: cdpUrl, protocolTimeout: 30000 });
    try {
      assert.match(await browser.version(), /Chrome\//);
      const page = await browser.newPage();
      await page.goto('http://127.0.0.1:8000/index.html?via=puppeteer');
      assert.equal(await page.title(), 'inside');
      assert.equal(await page.$eval('#out', (e) => e.textContent), 'not yet');
      await page.click('#b');
      assert.equal(await page.$eval('#out', (e) => e.textContent), 'clicked 1');
      const png = Buffer.from(await page.screenshot());
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
      assert.ok((await browser.pages()).some((p) => p.url().endsWith('?via=puppeteer')));
      await page.close();
    } finally {
      await browser.disconnect(); // the browser inside keeps running
    }
    const wrong = cdpUrl.replace(/token=[0-9a-f]{32}/, 'token=' + '0'.repeat(32));
    await assert.rejects(puppeteer.connect({ browserWSEndpoint: wrong, protocolTimeout: 10000 }), 'a token that is not the session\'s');
  });

  test('Puppeteer connect({browserURL}): it asks host:port/json/version with nothing else of the URL, so mcpbox refuses; the documented recipe connects', async () => {
    const puppeteer = require('puppeteer-core');
    const { cdp_url: cdpUrl } = ok(await cli.call('session_info', { session_id: sid }));
    // puppeteer-core resolves '/json/version' against browserURL: path, query (the token) and fragment are dropped,
    // userinfo makes fetch() throw, and connect's headers are not sent with it
    const asked = await fetch(`${srv.base}/json/version`);
    assert.notEqual(asked.status, 200, 'no /json/version without a key or token');
    await assert.rejects(puppeteer.connect({ browserURL: cdpUrl.replace(/^ws:/, 'http:'), protocolTimeout: 10000 }),
      (e) => e.message.includes(`${srv.base}/json/version`) && !e.message.includes('token='), 'the token is not in what Puppeteer asked');
    // the recipe docs/tools.md gives for code that only takes browserURL: ask mcpbox for the endpoint, with the key
    const v = await (await fetch(`${srv.base}/sessions/${sid}/cdp/json/version`, { headers: { authorization: `Bearer ${srv.key}` } })).json();
    const browser = await puppeteer.connect({ browserWSEndpoint: v.webSocketDebuggerUrl, protocolTimeout: 30000 });
    try {
      assert.match(await browser.version(), /Chrome\//);
      assert.ok((await browser.pages()).length >= 1);
    } finally {
      await browser.disconnect();
    }
  });

  test('browser_open refuses what is not a URL', async () => {
    for (const url of ['--renderer-cmd-prefix=/bin/sh', 'a b', '']) {
      const r = await cli.call('browser_open', { session_id: sid, url });
      assert.ok(r.isError, `${JSON.stringify(url)} refused`);
      assert.match(textOf(r), /url/);
    }
  });

  test('refused: no token, a view token, another session\'s token, another principal\'s key; previews cannot reach DevTools', async () => {
    const info = ok(await cli.call('session_info', { session_id: sid }));
    const base = `ws://127.0.0.1:${srv.port}/sessions/${sid}/cdp`;
    assert.equal(await wsStatus(info.cdp_url), 101, 'the control token opens it');
    assert.equal(await wsStatus(base), 401, 'no token');
    const viewToken = new URL(info.display.view_url).searchParams.get('token');
    assert.equal(await wsStatus(`${base}?token=${viewToken}`), 401, 'a view token does not control the browser');
    const sid2 = ok(await cli.call('session_create', {})).session_id;
    const other = ok(await cli.call('session_info', { session_id: sid2 })).cdp_url;
    const foreign = new URL(other).searchParams.get('token');
    assert.equal(await wsStatus(`${base}?token=${foreign}`), 401, 'the token of another session');
    ok(await cli.call('session_destroy', { session_id: sid2 }));
    const stranger = createKey(dataDir, { name: 'stranger' });
    let res = await fetch(`http://127.0.0.1:${srv.port}/sessions/${sid}/cdp/json/version`, { headers: { authorization: `Bearer ${stranger.key}` } });
    assert.equal(res.status, 401, 'another principal');
    res = await fetch(`http://127.0.0.1:${srv.port}/sessions/${sid}/cdp/json/version`);
    assert.equal(res.status, 401, 'no credentials over HTTP');
    await assert.rejects(chromium.connectOverCDP(`${base}?token=${foreign}`, { timeout: 10000 }), 'Playwright with a foreign token');
    res = await fetch(`http://127.0.0.1:${srv.port}/sessions/${sid}/ports/9222/json/version`, { headers: { authorization: `Bearer ${srv.key}` } });
    assert.equal(res.status, 403, 'the DevTools port is not a preview');
  });

  test('a page that allocates without end fails in its renderer, within the session\'s memory, not on the host', async () => {
    // 768 MiB: the memory cgroup where there is one, else RLIMIT_DATA per Chromium process
    const small = ok(await cli.call('session_create', { memory_mb: 768 })).session_id;
    try {
      const cdp = ok(await cli.call('browser_open', { session_id: small })).cdp_url;
      const browser = await chromium.connectOverCDP(cdp, { timeout: 60000 });
      try {
        const page = await browser.contexts()[0].newPage();
        // at most 4 GiB, touched: without a bound this returns 64 (and the host paid for it)
        // a renderer that dies leaves the evaluation pending: its crash event is the answer
        const crashed = page.waitForEvent('crash', { timeout: 90000 }).then(() => ({ crashed: true }), (e) => ({ e }));
        const got = await Promise.race([crashed, page.evaluate(() => {
          const keep = [];
          for (let i = 0; i < 64; i++) keep.push(new Uint8Array(64 << 20).fill(1));
          return keep.length;
        }).then((n) => ({ n }), (e) => ({ e }))]);
        assert.equal(got.n, undefined, `the page allocated ${got.n} x 64 MiB past a 768 MiB session`);
        assert.ok(got.crashed || /crash|closed|memory|Allocation|Array buffer/i.test(String(got.e?.message)),
          `the renderer fails: ${got.e?.message}`);
      } finally { await browser.close().catch(() => {}); }
      // the browser itself lives on and opens another tab (a reconnecting Playwright would wait on the dead target)
      ok(await cli.call('browser_open', { session_id: small, url: 'about:blank' }), 'browser_open after the crash');
      assert.equal(ok(await cli.call('session_info', { session_id: small })).browser.status, 'running');
    } finally {
      await cli.call('session_destroy', { session_id: small });
    }
  });

  test('the browser counts in the session: usage shows it; destroy leaves no Chromium on the host', async () => {
    const info = ok(await cli.call('session_info', { session_id: sid }));
    assert.ok(info.usage.pids >= 5, `pids counted: ${info.usage.pids}`);
    const profile = `--user-data-dir=/tmp/mcpbox-browser/profile`;
    // every sandbox has this profile path: only this server's processes (its tree) are this session's
    const before = treePidsMatching(srv.pid, profile).filter((p) => p.cmd.includes('chromium'));
    assert.ok(before.length >= 1, 'Chromium seen from the host while it runs');
    ok(await cli.call('session_destroy', { session_id: sid }));
    const left = await poll(() => stillAlive(before).length === 0, { timeout: 10000, interval: 100 });
    assert.ok(left, `Chromium processes left after destroy: ${JSON.stringify(stillAlive(before))}`);
  });

  test('seed 000: the manager dialect\'s cdpUrl starts the browser on the first connection (no browser_open)', async () => {
    const res = await fetch(`${srv.base}/api/v1/sandboxes`, {
      method: 'POST', headers: { 'X-API-KEY': srv.key, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'cdp' }) });
    assert.equal(res.status, 201);
    const { sandboxId: sid3, cdpUrl } = (await res.json()).data;
    const info = ok(await cli.call('session_info', { session_id: sid3 }));
    assert.equal(cdpUrl, info.cdp_url);
    assert.equal(info.browser, undefined, 'no browser yet');
    const browser = await chromium.connectOverCDP(cdpUrl, { timeout: 60000 });
    try {
      const page = await browser.contexts()[0].newPage();
      await page.setContent('<p id="x">set over CDP</p>');
      assert.equal(await page.textContent('#x'), 'set over CDP');
    } finally {
      await browser.close();
    }
    assert.equal(ok(await cli.call('session_info', { session_id: sid3 })).browser.status, 'running');
    ok(await cli.call('session_destroy', { session_id: sid3 }));
  });
});
