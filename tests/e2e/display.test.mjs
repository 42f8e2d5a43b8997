// Virtual displays: screenshot, input, VNC (TCP with vncsnapshot, WebSocket, noVNC in Chromium),
// and who may watch. Real clients written by others wherever one exists.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startClient, startRaw, startServe, httpClient, createKey, textOf, exec, poll, sleep, makeDataDir, bareDataDir, hostPidsMatching, launchChromium } from './helpers.mjs';
import { decodePng, decodePpm, pixel, meanDiff, changedPixels } from './png.mjs';
import { RfbClient, ENC_CURSOR, maskBits } from './rfb.mjs';

const BG = [0x2e, 0x34, 0x40];	// the display's plain background

function assertOk(r, what = '') {
  assert.ok(!r.isError, `${what} failed: ${textOf(r)}`);
}
function imageOf(r) {
  const img = (r.content || []).find((c) => c.type === 'image');
  assert.ok(img, `no image content in ${JSON.stringify(r).slice(0, 300)}`);
  return { ...img, buf: Buffer.from(img.data, 'base64') };
}
async function shot(srv, args = {}) {
  const r = await srv.call('screenshot', args);
  assertOk(r, 'screenshot');
  const img = imageOf(r);
  return { r, img, png: img.mimeType === 'image/png' ? decodePng(img.buf) : null, sc: r._meta?.['mcpbox/screenshot'] };
}
const isBg = (p) => Math.abs(p[0] - BG[0]) < 3 && Math.abs(p[1] - BG[1]) < 3 && Math.abs(p[2] - BG[2]) < 3;
function nonBg(png, rect) {
  let n = 0;
  for (let y = rect.y; y < rect.y + rect.height; y++) for (let x = rect.x; x < rect.x + rect.width; x++) if (!isBg(pixel(png, x, y))) n++;
  return n;
}

describe('screenshot and input over stdio', () => {
  let srv;
  before(async () => {
    srv = await startClient({ dataDir: bareDataDir() });
    await srv.client.listTools(); // the SDK then checks any structuredContent against an outputSchema
  });
  after(async () => { await srv?.close(); });

  test('tools are listed with annotations', async () => {
    const { tools } = await srv.client.listTools();
    const s = tools.find((t) => t.name === 'screenshot'), i = tools.find((t) => t.name === 'input');
    assert.ok(s && i, 'screenshot and input are listed');
    assert.equal(s.annotations.readOnlyHint, true);
    assert.equal(i.annotations.readOnlyHint, false);
    // an image tool with an outputSchema would have to return structuredContent, and clients that
    // find structuredContent (Codex, Mastra) hand the model only that and drop the image
    assert.equal(s.outputSchema, undefined, 'screenshot declares no outputSchema');
    assert.equal(i.outputSchema, undefined, 'input declares no outputSchema');
  });

  // (under make asan this also checks that the call's state is freed when no display callback runs)
  test('screenshot and input of an unknown session: not found', async () => {
    for (const [tool, args] of [['screenshot', {}], ['input', { actions: [{ type: 'move', x: 1, y: 1 }] }]]) {
      const r = await srv.call(tool, { session_id: 'ses_000000000000000000000000', ...args });
      assert.equal(r.isError, true);
      assert.match(textOf(r), /not found/);
    }
  });

  test('a server that showed a display exits with every handle closed (stdio and serve)', async () => {
    const raw = await startRaw({ dataDir: bareDataDir() });
    await raw.handshake();
    await raw.callTool('screenshot', { max_width: 64 }, 'shot');
    raw.endStdin();
    const ex = await raw.waitExit(10000);
    assert.equal(ex.code, 0);
    assert.doesNotMatch(raw.stderr(), /open handles/, raw.stderr().slice(-500));
    await raw.close();
    const serve = await startServe({ dataDir: bareDataDir() });
    const c = await httpClient(serve);
    assert.equal((await c.call('screenshot', { max_width: 64 })).isError, undefined);
    await c.close();
    const st = await serve.stop(10000);
    assert.equal(st.code, 0);
    assert.doesNotMatch(serve.stderr(), /open handles/, serve.stderr().slice(-500));
  });

  test('default screenshot: a PNG of the whole 1280x800 screen that decodes to its stated size', async () => {
    const { img, png, sc } = await shot(srv);
    assert.equal(img.mimeType, 'image/png');
    assert.equal(png.width, 1280);
    assert.equal(png.height, 800);
    assert.deepEqual([sc.width, sc.height, sc.scale, sc.format, sc.bytes], [1280, 800, 1, 'png', img.buf.length]);
    const { r } = await shot(srv, { max_width: 64 });
    assert.equal(r.structuredContent, undefined, 'an image result carries no structuredContent');
    assert.deepEqual(r.content.map((c) => c.type), ['text', 'image'], 'a short text, then the image');
    assert.match(r.content[0].text, /^PNG 64x40 of screen region \(0,0\) 1280x800, scale 0\.05, \d+ bytes$/);
    assert.equal(r._meta['mcpbox/screenshot'].scale, 0.05, 'scale 0.05 as 0.05, not 0.050000000000000003');
    // the bytes on the wire, not a re-serialization: reals with the fewest digits that read back exactly
    const raw = await startRaw({ dataDir: bareDataDir() });
    try {
      await raw.handshake();
      await raw.callTool('screenshot', { max_width: 64 }, 'shot');
      const line = raw.lines.find((l) => l.includes('"id":"shot"'));
      assert.match(line, /"scale":0\.05[,}]/);
      assert.doesNotMatch(line, /\d\.\d{15,}/, 'no 17-digit reals');
    } finally {
      await raw.close();
    }
    assert.ok(isBg(pixel(png, 5, 5)), `plain background, got ${pixel(png, 5, 5)}`);
    assert.ok(img.buf.length < 1_000_000, 'under 1 MB');
  });

  test('max_width scales, region crops, jpeg on request', async () => {
    let s = await shot(srv, { max_width: 640 });
    assert.equal(s.png.width, 640);
    assert.equal(s.png.height, 400);
    assert.equal(s.sc.scale, 0.5);
    s = await shot(srv, { region: { x: 100, y: 50, width: 300, height: 200 } });
    assert.deepEqual([s.png.width, s.png.height], [300, 200]);
    const j = await srv.call('screenshot', { format: 'jpeg', quality: 50 });
    const ji = imageOf(j);
    assert.equal(ji.mimeType, 'image/jpeg');
    assert.equal(ji.buf[0], 0xff);
    assert.equal(ji.buf[1], 0xd8);
    const bad = await srv.call('screenshot', { region: { x: 5000, y: 0, width: 10, height: 10 } });
    assert.equal(bad.isError, true);
  });

  test('max_bytes bounds a PNG (scaled down to fit); 0 keeps every pixel', async () => {
    const small = await shot(srv, { max_bytes: 3000 });
    assert.ok(small.img.buf.length <= 3000 || small.png.width <= 64, `at most 3000 bytes: ${small.img.buf.length} (${small.png.width}x${small.png.height})`);
    assert.ok(small.png.width < 1280, `scaled down to fit: ${small.png.width}`);
    const full = await shot(srv, { max_bytes: 0, max_width: 1280, max_height: 800 });
    assert.deepEqual([full.png.width, full.png.height, full.sc.scale], [1280, 800, 1]);
    assert.equal((await srv.call('screenshot', { max_bytes: -1 })).isError, true, 'a negative bound is refused');
  });

  test('key_down holds keys across calls until key_up (shift-click, held modifiers)', async () => {
    const sh = (code) => exec(srv, 'shell', code);
    assertOk(await srv.call('input', { space: 'screen', actions: [{ type: 'move', x: 5, y: 5 }] }), 'move');
    assertOk(await sh('rm -f /workspace/xevk.log; (xev -root -event keyboard > /workspace/xevk.log 2>&1 &); sleep 0.3'), 'xev');
    assertOk(await srv.call('input', { space: 'screen', actions: [{ type: 'key_down', keys: 'shift' }] }), 'key_down');
    const pressed = await poll(async () => /KeyPress[\s\S]*Shift_L/.test((await sh('cat /workspace/xevk.log')).sc.stdout), { timeout: 3000, interval: 50 });
    assert.ok(pressed, 'shift went down');
    assert.doesNotMatch((await sh('cat /workspace/xevk.log')).sc.stdout, /KeyRelease/, 'and stays down after the call');
    assertOk(await srv.call('input', { space: 'screen', actions: [{ type: 'key_up', keys: 'shift' }] }), 'key_up');
    const released = await poll(async () => /KeyRelease[\s\S]*Shift_L/.test((await sh('cat /workspace/xevk.log')).sc.stdout), { timeout: 3000, interval: 50 });
    assert.ok(released, 'key_up released it');
    await sh('pkill -x xev; true');
    const bad = await srv.call('input', { space: 'screen', actions: [{ type: 'key_down', keys: 'ctrl+nosuchkey' }] });
    assert.equal(bad.isError, true);
    assert.match(textOf(bad), /actions\[0\]: unknown key/);
  });

  test('a window opened with execute appears in the next screenshot', async () => {
    const before = (await shot(srv)).png;
    const rect = { x: 300, y: 300, width: 200, height: 100 };
    assert.equal(nonBg(before, rect), 0, 'the area starts empty');
    assertOk(await exec(srv, 'shell', '(xmessage -geometry +320+320 "hello from the sandbox" >/dev/null 2>&1 &)'), 'xmessage');
    const png = await poll(async () => { const p = (await shot(srv)).png; return nonBg(p, rect) > 200 ? p : null; }, { timeout: 5000, interval: 50 });
    assert.ok(png, 'the xmessage window never showed up');
  });

  test('type: the next screenshot differs where the text went', async () => {
    await shot(srv); // the display runs before xterm starts (alone, this test would start it)
    // an xterm at a known place; without a window manager focus follows the pointer
    assertOk(await exec(srv, 'shell', '(xterm -geometry 40x8+600+100 -bg white -fg black >/dev/null 2>&1 &)'), 'xterm');
    const area = { x: 600, y: 100, width: 200, height: 100 };
    assert.ok(await poll(async () => nonBg((await shot(srv)).png, area) > 5000, { timeout: 10000, interval: 50 }), 'the xterm never showed up');
    const r0 = await srv.call('input', { space: 'screen', actions: [{ type: 'move', x: 700, y: 150 }, { type: 'wait', ms: 100 }] });
    assertOk(r0, 'move');
    const a = (await shot(srv)).png;
    const r = await srv.call('input', { actions: [{ type: 'type', text: 'echo mcpbox€ü > typed.txt' }, { type: 'key', keys: 'Return' }], screenshot_after: true });
    assertOk(r, 'type');
    const xterm = { x: 600, y: 100, width: 240, height: 100 }, far = { x: 0, y: 500, width: 1280, height: 300 };
    const after = decodePng(imageOf(r).buf);
    assert.deepEqual([after.width, after.height], [a.width, a.height], 'screenshot_after is a whole screen');
    assert.equal(changedPixels(a, after, far), 0, 'nothing changed far away');
    // "settled" is 50 ms without new pixels: on a loaded machine xterm can take longer than that to
    // draw what it received, so the screenshot_after may come first; the next ones then must show it
    let b = after;
    if (changedPixels(a, b, xterm) <= 50)
      b = await poll(async () => { const p = (await shot(srv)).png; return changedPixels(a, p, xterm) > 50 ? p : null; }, { timeout: 10000, interval: 50 });
    assert.ok(b, 'no screenshot shows the typed text in the xterm');
    assert.equal(changedPixels(a, b, far), 0, 'nothing changed far away');
    // the typed text (including € and ü, which the keymap lacks or shifts) reached xterm's shell
    const got = await poll(async () => {
      const o = (await exec(srv, 'shell', 'cat /workspace/typed.txt 2>/dev/null')).sc.stdout;
      return o ? o : null;
    }, { timeout: 10000, interval: 100 });
    assert.equal(got, 'mcpbox€ü\n');
  });

  test('scaled coordinates land on the right screen pixel', async () => {
    assertOk(await exec(srv, 'shell', 'rm -f /workspace/xev.log; (xev -root -event mouse > /workspace/xev.log 2>&1 &); sleep 0.3'), 'xev');
    const s = await shot(srv, { max_width: 640 }); // scale 0.5: (150, 120) is screen (300, 240)
    assert.equal(s.sc.scale, 0.5);
    // click until xev reports it: on a busy machine xev may not be listening yet after 0.3 s
    const seen = await poll(async () => {
      assertOk(await srv.call('input', { actions: [{ type: 'click', x: 150, y: 120 }] }), 'click');
      const r = await exec(srv, 'shell', 'sleep 0.05; cat /workspace/xev.log');
      return /ButtonPress event[\s\S]*?root:\(\d+,\d+\)/.test(r.sc.stdout) ? r.sc.stdout : null;
    }, { timeout: 5000, interval: 100 });
    assert.ok(seen, 'xev saw no click');
    const m = /ButtonPress event[\s\S]*?root:\((\d+),(\d+)\)/.exec(seen);
    assert.ok(m, `cannot parse xev output: ${seen.slice(0, 400)}`);
    assert.deepEqual([Number(m[1]), Number(m[2])], [300, 240], 'screenshot (150,120) at scale 0.5 is screen (300,240)');
  });

  test('input errors name the action', async () => {
    let r = await srv.call('input', { actions: [{ type: 'key', keys: 'ctrl+nosuchkey' }] });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /actions\[0\].*nosuchkey/);
    r = await srv.call('input', { space: 'screen', actions: [{ type: 'click', x: 99999, y: 1 }] });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /outside/);
  });

  test('session_info reports the display; session_create sets its size', async () => {
    const info = await srv.call('session_info', {});
    assert.equal(info.structuredContent.display.status, 'running');
    assert.equal(info.structuredContent.display.width, 1280);
    const c = await srv.call('session_create', { display: { width: 800, height: 600 } });
    assertOk(c, 'session_create');
    const id = c.structuredContent.session_id;
    const s = await shot(srv, { session_id: id });
    assert.deepEqual([s.png.width, s.png.height], [800, 600]);
    const bad = await srv.call('session_create', { display: { width: 10, height: 10 } });
    assert.equal(bad.isError, true);
    await srv.call('session_destroy', { session_id: id });
  });
});

describe('idle displays stop and come back', () => {
  let srv;
  before(async () => {
    const dataDir = bareDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ display_desktop: 'bare', display_idle: '1s' }));
    srv = await startClient({ dataDir });
  });
  after(async () => { await srv?.close(); });

  test('a display unused for display_idle is stopped (Xvfb gone) and restarts on the next screenshot', async () => {
    await shot(srv);
    assert.match((await exec(srv, 'shell', 'pgrep -c Xvfb')).sc.stdout, /^1/);
    const stopped = await poll(async () => (await srv.call('session_info', {})).structuredContent.display?.status === 'stopped',
      { timeout: 5000, interval: 200 });
    assert.ok(stopped, 'the display was not stopped');
    assert.equal((await exec(srv, 'shell', 'pgrep -c Xvfb || true')).sc.stdout.trim(), '0', 'Xvfb was killed');
    const again = await shot(srv);
    assert.equal(again.png.width, 1280);
    assert.equal((await srv.call('session_info', {})).structuredContent.display.status, 'running');
  });
});

// ---- VNC ---------------------------------------------------------------------------------------

function wsOpen(url, { timeout = 5000 } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const chunks = [];
    const timer = setTimeout(() => { try { ws.close(); } catch { /* */ } resolve({ ok: false, why: 'timeout' }); }, timeout);
    ws.onmessage = (ev) => {
      chunks.push(Buffer.from(ev.data));
      const all = Buffer.concat(chunks);
      if (all.length >= 12) { clearTimeout(timer); resolve({ ok: true, greeting: all.toString('latin1', 0, 12), ws }); }
    };
    ws.onerror = () => { clearTimeout(timer); resolve({ ok: false, why: 'error' }); };
    ws.onclose = () => { clearTimeout(timer); resolve({ ok: false, why: 'closed' }); };
  });
}

describe('VNC: TCP port, WebSocket, access control', () => {
  let serve, dataDir, cli, sid, info;
  before(async () => {
    dataDir = bareDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ display_desktop: 'bare', vnc_tcp: true, view_token_ttl: '4s' }));
    serve = await startServe({ dataDir });
    cli = await httpClient(serve);
    const c = await cli.call('session_create', { display: true });
    assertOk(c, 'session_create');
    sid = c.structuredContent.session_id;
    info = await poll(async () => {
      const d = (await cli.call('session_info', { session_id: sid })).structuredContent.display;
      return d?.status === 'running' ? d : null;
    }, { timeout: 5000, interval: 50 });
    assert.ok(info, 'display running');
  });
  after(async () => { await cli?.close(); await serve?.close(); });

  test('session_info gives view and control URLs and a loopback VNC port', () => {
    assert.match(info.view_url, new RegExp(`^${serve.base}/sessions/${sid}/view\\?token=[0-9a-f]{32}$`));
    assert.match(info.control_url, /token=[0-9a-f]{32}$/);
    assert.notEqual(info.view_url, info.control_url);
    assert.ok(info.vnc_port > 0);
  });

  test('vncsnapshot (a real VNC client) gets the same picture as screenshot', { skip: !fs.existsSync('/usr/bin/vncsnapshot') && 'vncsnapshot not installed' }, async () => {
    await cli.call('execute', { session_id: sid, language: 'shell', code: '(xmessage -geometry +50+50 "vnc test" >/dev/null 2>&1 &); sleep 0.5' });
    const out = path.join(dataDir, 'vnc.jpg');
    const r = spawnSync('vncsnapshot', ['-quality', '100', '-allowblank', `127.0.0.1::${info.vnc_port}`, out], { encoding: 'utf8', timeout: 15000 });
    assert.equal(r.status, 0, `vncsnapshot failed: ${r.stderr}`);
    const ppm = spawnSync('convert', [out, 'ppm:-'], { timeout: 15000, maxBuffer: 64 << 20 });
    assert.equal(ppm.status, 0, 'ImageMagick convert');
    const vnc = decodePpm(ppm.stdout);
    const s = await cli.call('screenshot', { session_id: sid });
    const png = decodePng(imageOf(s).buf);
    assert.deepEqual([vnc.width, vnc.height], [png.width, png.height]);
    const diff = meanDiff(vnc, png);
    assert.ok(diff < 4, `VNC picture differs from the screenshot by ${diff.toFixed(2)} per channel`);
    assert.ok(nonBg(png, { x: 50, y: 50, width: 60, height: 40 }) > 100, 'the window is in the picture');
  });

  test('WebSocket /sessions/ID/vnc: RFB greeting with the owner key or a token; refused otherwise', async () => {
    const base = serve.base.replace('http', 'ws');
    // fresh URLs: this server's tokens live 4 s
    info = (await cli.call('session_info', { session_id: sid })).structuredContent.display;
    const token = new URL(info.view_url).searchParams.get('token');
    let c = await wsOpen(`${base}/sessions/${sid}/vnc?token=${token}`);
    assert.ok(c.ok, `view token: ${c.why}`);
    assert.equal(c.greeting, 'RFB 003.008\n');
    c.ws.close();
    c = await wsOpen(`${base}/sessions/${sid}/vnc?api_key=${serve.key}`);
    assert.ok(c.ok, 'owner key');
    c.ws.close();
    c = await wsOpen(`${base}/sessions/${sid}/vnc?token=${'0'.repeat(32)}`);
    assert.equal(c.ok, false, 'a wrong token is refused');
    c = await wsOpen(`${base}/sessions/${sid}/vnc`);
    assert.equal(c.ok, false, 'no credentials are refused');
    const other = createKey(dataDir, { name: 'other' });
    c = await wsOpen(`${base}/sessions/${sid}/vnc?api_key=${other.key}`);
    assert.equal(c.ok, false, "another principal's key is refused");
    // the view page: 403 for others, noVNC for token holders
    let res = await fetch(`${serve.base}/sessions/${sid}/view`, { headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(res.status, 403);
    res = await fetch(info.view_url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /novnc\/vnc_lite\.html/);
    res = await fetch(`${serve.base}/novnc/vnc_lite.html`);
    assert.equal(res.status, 200);
    // tokens expire (view_token_ttl 4s here)
    await sleep(4200);
    c = await wsOpen(`${base}/sessions/${sid}/vnc?token=${token}`);
    assert.equal(c.ok, false, 'an expired token is refused');
    res = await fetch(info.view_url);
    assert.equal(res.status, 403, 'an expired token cannot open the page');
  });

  test('coordinates follow each connection\'s own last screenshot', async () => {
    const other = await httpClient(serve);	// a second MCP connection of the same owner
    try {
      const xev = await cli.call('execute', { session_id: sid, language: 'shell', code: 'rm -f /workspace/xev2.log; (xev -root -event button > /workspace/xev2.log 2>&1 &); sleep 0.3' });
      assertOk(xev, 'xev');
      const half = await cli.call('screenshot', { session_id: sid, max_width: 640 });	// scale 0.5 for this connection
      assert.equal(half._meta['mcpbox/screenshot'].scale, 0.5);
      const full = await other.call('screenshot', { session_id: sid, max_width: 1280 });	// scale 1 for the other
      assert.equal(full._meta['mcpbox/screenshot'].scale, 1);
      assertOk(await cli.call('input', { session_id: sid, actions: [{ type: 'click', x: 100, y: 50 }] }), 'click A');
      assertOk(await other.call('input', { session_id: sid, actions: [{ type: 'click', x: 100, y: 50 }] }), 'click B');
      const log = await poll(async () => {
        const o = (await cli.call('execute', { session_id: sid, language: 'shell', code: 'cat /workspace/xev2.log' })).structuredContent.stdout;
        return (o.match(/ButtonPress/g) || []).length >= 2 ? o : null;
      }, { timeout: 3000, interval: 100 });
      assert.ok(log, 'both clicks arrived');
      const at = [...log.matchAll(/ButtonPress event[\s\S]*?root:\((\d+),(\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
      assert.deepEqual(at.slice(0, 2), [[200, 100], [100, 50]], 'A\'s (100,50) is screen (200,100) at scale 0.5; B\'s is (100,50) at scale 1');
      await cli.call('execute', { session_id: sid, language: 'shell', code: 'pkill -x xev; true' });
    } finally {
      await other.close();
    }
  });

  test('cursor shape: control clients get the X cursor and its changes (Cursor encoding); watchers an empty one', async () => {
    const base = serve.base.replace('http', 'ws');
    const d = (await cli.call('session_info', { session_id: sid })).structuredContent.display;
    const tok = (u) => new URL(u).searchParams.get('token');
    const control = await RfbClient.ws(`${base}/sessions/${sid}/vnc?token=${tok(d.control_url)}`);
    const view = await RfbClient.ws(`${base}/sessions/${sid}/vnc?token=${tok(d.view_url)}`);
    try {
      for (const c of [control, view]) {
        await c.handshake();
        c.setEncodings([ENC_CURSOR, 0]);
        c.requestUpdate(false);
      }
      assert.ok(await control.until((c) => c.cursors.some((k) => k.w > 0)), 'the control client got a cursor shape');
      const arrow = control.cursors.findLast((k) => k.w > 0);
      assert.ok(arrow.h > 0 && maskBits(arrow) > 20, `a real arrow: ${arrow.w}x${arrow.h}, ${maskBits(arrow)} opaque pixels`);
      assert.ok(arrow.xhot < arrow.w && arrow.yhot < arrow.h, 'hot spot inside the shape');
      assert.ok(await view.until((c) => c.cursors.length > 0), 'the watcher got a cursor message');
      assert.ok(view.cursors.every((k) => k.w === 0 && k.h === 0), 'watchers get an empty shape (they see the drawn cursor)');
      // over an xterm the X cursor becomes xterm's text cursor: the new shape is sent
      const r = await cli.call('execute', { session_id: sid, language: 'shell',
        code: '(xterm -geometry 30x8+600+400 >/dev/null 2>&1 &); for i in $(seq 50); do xwininfo -root -children | grep -q xterm && break; sleep 0.1; done; sleep 0.3' });
      assertOk(r, 'xterm');
      assertOk(await cli.call('input', { session_id: sid, space: 'screen', actions: [{ type: 'move', x: 680, y: 450 }] }), 'input');
      const changed = await control.until((c) => c.cursors.some((k) => k.w > 0 && !k.pixels.equals(arrow.pixels)), 5000);
      assert.ok(changed, `a new shape after the pointer entered the xterm (got ${control.cursors.length} shapes)`);
      // and back on the root window: the arrow again
      const before = control.cursors.length;
      assertOk(await cli.call('input', { session_id: sid, space: 'screen', actions: [{ type: 'move', x: 100, y: 700 }] }), 'input');
      assert.ok(await control.until((c) => c.cursors.length > before && c.cursors.at(-1).pixels.equals(arrow.pixels), 5000), 'the arrow again');
      await cli.call('execute', { session_id: sid, language: 'shell', code: 'pkill xterm; for i in $(seq 50); do pgrep -x xterm >/dev/null || break; sleep 0.1; done; sleep 0.2' });
    } finally {
      control.close();
      view.close();
    }
  });

  test('Chromium opens the view URL: the noVNC canvas shows the screen; only the control token clicks', async (t) => {
    const browser = await launchChromium(t);
    if (!browser) return;
    await cli.call('execute', { session_id: sid, language: 'shell', code: 'rm -f /workspace/xev.log; (xev -root -event mouse > /workspace/xev.log 2>&1 &); sleep 0.3' });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      // tokens of this server live 4 s: take one only now that the browser is up
      const fresh = (await cli.call('session_info', { session_id: sid })).structuredContent.display;
      await page.goto(fresh.view_url);
      const canvas = page.locator('#screen canvas');
      await canvas.waitFor({ timeout: 10000 });
      await poll(async () => (await canvas.boundingBox())?.width === 1280, { timeout: 10000, interval: 100 });
      await sleep(500);
      // the canvas's own pixels (what noVNC drew), read back as PNG
      const dataUrl = await canvas.evaluate((c) => c.toDataURL('image/png'));
      const pagePng = decodePng(Buffer.from(dataUrl.split(',')[1], 'base64'));
      const s = decodePng(imageOf(await cli.call('screenshot', { session_id: sid })).buf);
      assert.deepEqual([pagePng.width, pagePng.height], [1280, 800]);
      const diff = meanDiff(pagePng, s);
      assert.ok(diff < 3, `the canvas differs from the session screenshot by ${diff.toFixed(2)}`);
      // view-only: a click does not reach the session
      const box = await canvas.boundingBox();
      await page.mouse.click(box.x + 400, box.y + 300);
      await sleep(500);
      let log = (await cli.call('execute', { session_id: sid, language: 'shell', code: 'cat /workspace/xev.log' })).structuredContent.stdout;
      assert.doesNotMatch(log, /ButtonPress/, 'the view token must not give control');
      // control token (fresh: this server's tokens live 4 s)
      const again = (await cli.call('session_info', { session_id: sid })).structuredContent.display;
      await page.goto(again.control_url);
      await canvas.waitFor({ timeout: 10000 });
      await poll(async () => (await canvas.boundingBox())?.width === 1280, { timeout: 10000, interval: 100 });
      await sleep(300);
      const box2 = await canvas.boundingBox();
      await page.mouse.click(box2.x + 400, box2.y + 300);
      log = await poll(async () => {
        const o = (await cli.call('execute', { session_id: sid, language: 'shell', code: 'cat /workspace/xev.log' })).structuredContent.stdout;
        return /ButtonPress/.test(o) ? o : null;
      }, { timeout: 3000, interval: 100 });
      assert.ok(log, 'a click with the control token reaches the session');
      const m = /ButtonPress event[\s\S]*?root:\((\d+),(\d+)\)/.exec(log);
      assert.ok(m && Math.abs(Number(m[1]) - 400) <= 2 && Math.abs(Number(m[2]) - 300) <= 2,
        `the click landed at ${m?.[1]},${m?.[2]}, want 400,300 (page pixels = screen pixels)`);
    } finally {
      await browser.close();
    }
  });
});

describe('VNC password on the TCP port', () => {
  let serve, cli, sid, port, dataDir;
  const hasTools = fs.existsSync('/usr/bin/vncsnapshot') && fs.existsSync('/usr/bin/x11vnc');
  before(async () => {
    if (!hasTools) return;
    dataDir = bareDataDir();
    fs.writeFileSync(path.join(dataDir, 'config.json'), JSON.stringify({ display_desktop: 'bare', vnc_tcp: true, vnc_password: 'opensesame' }));
    serve = await startServe({ dataDir });
    cli = await httpClient(serve);
    const c = await cli.call('session_create', { display: true });
    assertOk(c, 'session_create');
    sid = c.structuredContent.session_id;
    port = (await poll(async () => {
      const d = (await cli.call('session_info', { session_id: sid })).structuredContent.display;
      return d?.status === 'running' && d.vnc_port ? d : null;
    }, { timeout: 5000, interval: 50 }))?.vnc_port;
    assert.ok(port, 'VNC port');
  });
  after(async () => { await cli?.close(); await serve?.close(); });

  const snapshot = (passwdFile) => spawnSync('vncsnapshot', [...(passwdFile ? ['-passwd', passwdFile] : []), '-allowblank',
    `127.0.0.1::${port}`, path.join(dataDir, 'p.jpg')], { encoding: 'utf8', timeout: 15000, input: '' });
  const storePasswd = (pw, file) => {
    const r = spawnSync('x11vnc', ['-storepasswd', pw, file], { encoding: 'utf8', timeout: 15000 });
    assert.equal(r.status, 0, r.stderr);
    return file;
  };

  test('vncsnapshot with the right password gets the screen; a wrong or no password is refused', { skip: !hasTools && 'vncsnapshot/x11vnc not installed' }, () => {
    const good = snapshot(storePasswd('opensesame', path.join(dataDir, 'good.pw')));
    assert.equal(good.status, 0, `right password: ${good.stderr}`);
    assert.ok(fs.statSync(path.join(dataDir, 'p.jpg')).size > 1000, 'an image was written');
    fs.rmSync(path.join(dataDir, 'p.jpg'));
    const bad = snapshot(storePasswd('wrongpass', path.join(dataDir, 'bad.pw')));
    assert.notEqual(bad.status, 0, 'a wrong password must be refused');
    assert.match(bad.stderr + bad.stdout, /auth|fail|refus/i);
    const none = snapshot(null);
    assert.notEqual(none.status, 0, 'no password must be refused');
    assert.ok(!fs.existsSync(path.join(dataDir, 'p.jpg')), 'no image without the password');
  });
});

// Processes under pid (its zygote, workers and what they run), whose command line has needle.
function descendants(pid, needle) {
  const parent = (p) => { try { return Number(fs.readFileSync(`/proc/${p}/stat`, 'latin1').replace(/^.*\) /, '').split(' ')[1]); } catch { return 0; } };
  return hostPidsMatching(needle).map((p) => p.pid).filter((p) => {
    for (let q = parent(p), n = 0; q > 1 && n < 64; q = parent(q), n++) if (q === pid) return true;
    return false;
  });
}

describe('a crashed server', () => {
  test('kill -9: Xvfb and the display agent die with their sandbox; no display file is ever on the host', async () => {
    const dataDir = bareDataDir();
    const raw = await startRaw({ dataDir });
    await raw.handshake();
    const r = await raw.callTool('screenshot', {}, 'shot');
    assert.ok(!r.result?.isError, JSON.stringify(r).slice(0, 300));
    const xvfb = descendants(raw.child.pid, 'Xvfb');
    const agent = descendants(raw.child.pid, 'display-agent');
    assert.equal(xvfb.length, 1, 'one new Xvfb');
    assert.equal(agent.length, 1, 'one new display agent');
    // the socket and the framebuffer live on the sandbox's own tmpfs mounts
    for (const top of [`/dev/shm/mcpbox-${process.getuid()}`, `/tmp/mcpbox-${process.getuid()}`])
      assert.ok(!fs.existsSync(path.join(top, String(raw.child.pid))), `no display directory of this server in ${top}`);

    process.kill(raw.child.pid, 'SIGKILL');
    await raw.waitExit();
    const deadOrZombie = (pid) => {
      try { return fs.readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /, '')[0] === 'Z'; } catch { return true; }
    };
    const gone = await poll(() => xvfb.concat(agent).every(deadOrZombie), { timeout: 5000, interval: 50 });
    assert.ok(gone, 'Xvfb or the display agent outlived the server');

    const next = await startRaw({ dataDir });
    await next.handshake();
    try {
      const again = await next.callTool('screenshot', {}, 'shot2');
      assert.ok(!again.result?.isError, 'displays work after the crash');
    } finally {
      await next.close();
    }
  });
});

describe('input cancellation', () => {
  test('notifications/cancelled ends a wait at once: later actions are not sent, held buttons are released', async () => {
    const raw = await startRaw({ dataDir: bareDataDir() });
    try {
      await raw.handshake();
      const sh = async (code, id) => (await raw.callTool('execute', { language: 'shell', code }, id)).result.structuredContent;
      assert.ok(!(await raw.callTool('screenshot', {}, 'shot')).result.isError);
      await sh('rm -f /workspace/xev.log; (xev -root -event button > /workspace/xev.log 2>&1 &); sleep 0.3', 'xev');
      raw.send({ jsonrpc: '2.0', id: 'in1', method: 'tools/call', params: { name: 'input', arguments: { space: 'screen', actions: [
        { type: 'down', x: 100, y: 100, button: 'left' },
        { type: 'wait', ms: 3000 },
        { type: 'click', x: 300, y: 300, button: 'right' },
      ] } } });
      // the down arrives; then cancel in the middle of the wait
      const down = await poll(async () => /ButtonPress/.test((await sh('cat /workspace/xev.log', `c${Date.now()}`)).stdout), { timeout: 2000, interval: 50 });
      assert.ok(down, 'the button went down');
      const t0 = Date.now();
      raw.notify('notifications/cancelled', { requestId: 'in1' });
      const released = await poll(async () => /ButtonRelease/.test((await sh('cat /workspace/xev.log', `r${Date.now()}`)).stdout), { timeout: 1500, interval: 50 });
      assert.ok(released && Date.now() - t0 < 1500, 'the held button is released when the call is cancelled, not after the wait');
      await sleep(3200);
      const log = (await sh('cat /workspace/xev.log', 'final')).stdout;
      assert.doesNotMatch(log, /button 3/, 'the click after the wait was never sent');
      assert.ok(!raw.messages.some((m) => m && m.id === 'in1'), 'no response for a cancelled request');
      // and the display still takes input
      const r = await raw.callTool('input', { space: 'screen', actions: [{ type: 'click', x: 10, y: 10 }] }, 'after');
      assert.ok(!r.result.isError, JSON.stringify(r));
    } finally {
      await raw.close();
    }
  });
});

// network sessions need /dev/net/tun (slirp4netns runs as the user running mcpbox)
const tunUsable = (() => { try { fs.accessSync('/dev/net/tun', fs.constants.R_OK | fs.constants.W_OK); return true; } catch { return false; } })();

describe('network sessions and X', { skip: tunUsable ? false : 'no access to /dev/net/tun' }, () => {
  test('a network session\'s Xvfb has no abstract socket in the host network namespace', async () => {
    const srv = await startClient({ dataDir: bareDataDir() });
    try {
      const c = await srv.call('session_create', { network: true, display: true });
      assertOk(c, 'session_create');
      const sid = c.structuredContent.session_id;
      const s = await srv.call('screenshot', { session_id: sid });
      assertOk(s, 'screenshot');
      // other network sessions (and host processes) would see an abstract socket here
      const unix = fs.readFileSync('/proc/net/unix', 'utf8');
      assert.doesNotMatch(unix, /@\/tmp\/\.X11-unix\/X0\b/, 'abstract X socket visible on the host');
      // programs in the session still reach their display through /tmp/.X11-unix/X0
      const r = await exec(srv, 'shell', 'xdpyinfo | grep dimensions', { session_id: sid });
      assert.match(r.sc.stdout, /1280x800 pixels/);
    } finally {
      await srv.close();
    }
  });

  test('in a network session the agent connects to its own Xvfb by path, never to an abstract :0 of the host', async (t) => {
    if (/@\/tmp\/\.X11-unix\/X0\b/.test(fs.readFileSync('/proc/net/unix', 'utf8')))
      return t.skip('a host X server owns the abstract :0');
    // stands in for the host's X server: XCB tries the abstract socket before the path (python:
    // libuv would bind the name padded with NULs, which is another abstract name)
    const host = spawn('python3', ['-c', `
import socket, sys, threading
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind('\\0/tmp/.X11-unix/X0'); s.listen(8)
n = [0]
def accept():
    while True:
        c, _ = s.accept(); n[0] += 1; c.close()
threading.Thread(target=accept, daemon=True).start()
print('ready', flush=True); sys.stdin.read(); print(n[0], flush=True)`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    host.stdout.on('data', (d) => { out += d; });
    assert.ok(await poll(() => out.startsWith('ready'), { timeout: 5000 }), 'the stand-in listens');
    const srv = await startClient({ dataDir: bareDataDir() });
    try {
      const c = await srv.call('session_create', { network: true });
      const sid = c.structuredContent.session_id;
      const r = await srv.call('screenshot', { session_id: sid });
      assert.ok(!r.isError, `the network session's display works: ${textOf(r)}`);
      const i = await srv.call('input', { session_id: sid, actions: [{ type: 'click', x: 5, y: 5 }] });
      assert.ok(!i.isError, textOf(i));
    } finally {
      await srv.close();
      host.stdin.end();
    }
    await poll(() => /\n\d+/.test(out), { timeout: 5000 });
    assert.equal(out.split('\n')[1], '0', 'the agent connected to the host\'s abstract :0');
  });
});
