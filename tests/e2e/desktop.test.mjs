// The standard desktop (vnc/desktop.c): a window manager with title bars and close buttons, a
// task bar, X core fonts and a terminal, driven only with `input` actions the way a computer-use
// agent drives it, and checked with xwininfo (from inside the sandbox) and with screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClient, textOf, poll } from './helpers.mjs';
import { decodePng, pixel } from './png.mjs';

const ACTIVE_TITLE = [0x5e, 0x81, 0xac];	// the focused window's title bar (desktop.c)
const BG = [0x2e, 0x34, 0x40];
const near = (p, c) => Math.abs(p[0] - c[0]) < 6 && Math.abs(p[1] - c[1]) < 6 && Math.abs(p[2] - c[2]) < 6;

describe('the standard desktop', () => {
  let srv, sid;
  const sh = async (code) => {
    const r = await srv.call('execute', { session_id: sid, language: 'shell', code, timeout_s: 30 });
    assert.ok(!r.isError || r.structuredContent, textOf(r));
    return r.structuredContent;
  };
  /** A client window's absolute geometry by its title, or null once it is gone. */
  const win = async (title) => {
    const o = await sh(`DISPLAY=:0 xwininfo -name ${title} 2>&1 && DISPLAY=:0 xwininfo -tree -name ${title} 2>&1 || true`);
    const m = /Absolute upper-left X:\s+(\d+)[\s\S]*Absolute upper-left Y:\s+(\d+)[\s\S]*Width:\s+(\d+)[\s\S]*Height:\s+(\d+)/.exec(o.stdout);
    // framed: the window manager has reparented it into its frame (title bar and buttons)
    return m ? { x: +m[1], y: +m[2], w: +m[3], h: +m[4], framed: !/Parent window id: \S+ \(the root window\)/.test(o.stdout) } : null;
  };
  const screen = async () => {
    const r = await srv.call('screenshot', { session_id: sid, format: 'png', max_width: 1280, max_height: 800 });
    assert.ok(!r.isError, textOf(r));
    return decodePng(Buffer.from(r.content.find((c) => c.type === 'image').data, 'base64'));
  };

  before(async () => {
    srv = await startClient();
    const c = await srv.call('session_create', { display: { width: 1280, height: 800 } });
    assert.ok(!c.isError, textOf(c));
    sid = c.structuredContent.session_id;
  });
  after(async () => { await srv?.close(); });

  test('it starts with a window manager, a task bar and a terminal; session_info says which desktop', async () => {
    // the first screenshot waits for the window manager to run; on a busy host it may paint its task bar a little later
    const bar = await poll(async () => near(pixel(await screen(), 5, 800 - 14), [0x3b, 0x42, 0x52]), { timeout: 10000, interval: 250 });
    assert.ok(bar, 'the task bar along the bottom');
    const info = (await srv.call('session_info', { session_id: sid })).structuredContent;
    assert.equal(info.display.desktop, 'standard');
    const ps = await sh('ps -eo comm');
    assert.match(ps.stdout, /^jwm$/m, 'the window manager runs inside the sandbox');
    const term = await poll(() => win('xterm'), { timeout: 10000, interval: 200 });
    assert.ok(term, 'the terminal started with the display');
    // X core fonts: xterm's default font loads (it failed on a bare Xvfb without xfonts-base)
    const fonts = await sh('DISPLAY=:0 xlsfonts -fn "-misc-fixed-medium-r-semicondensed--13-*" | head -1');
    assert.match(fonts.stdout, /misc-fixed-medium-r-semicondensed--13/);
  });

  test('two xterms: one dragged by its title bar, the other closed with its close button, all by input', { timeout: 90000 }, async () => {
    await sh('(xterm -T one -geometry 50x10+680+100 >/dev/null 2>&1 &); (xterm -T two -geometry 50x10+150+520 >/dev/null 2>&1 &)');
    // framed, and placed: the window manager reparents first and moves after; two reads 200 ms apart agree
    const framed = async (t) => {
      const a = await win(t);
      if (!a?.framed) return null;
      await new Promise((r) => setTimeout(r, 200));
      const b = await win(t);
      return b && b.x === a.x && b.y === a.y ? b : null;
    };
    const one = await poll(() => framed('one'), { timeout: 10000, interval: 200 });
    const two = await poll(() => framed('two'), { timeout: 10000, interval: 200 });
    assert.ok(one && two, 'both windows are mapped and framed by the window manager');

    // drag "one" by its title bar (just above the client area, left of the buttons)
    const grab = { x: one.x + 60, y: one.y - 10 };
    let r = await srv.call('input', { session_id: sid, space: 'screen', actions: [
      { type: 'drag', from: grab, to: { x: grab.x + 200, y: grab.y + 300 } },
    ] });
    assert.ok(!r.isError, textOf(r));
    const moved = await poll(async () => { const w = await win('one'); return w && w.x !== one.x ? w : null; }, { timeout: 5000, interval: 100 });
    assert.ok(moved, 'the window moved');
    assert.ok(Math.abs(moved.x - (one.x + 200)) <= 4 && Math.abs(moved.y - (one.y + 300)) <= 4,
      `dragged by (200, 300): from ${one.x},${one.y} to ${moved.x},${moved.y}`);
    const img = await poll(async () => { const i = await screen(); return near(pixel(i, moved.x + 100, moved.y - 10), ACTIVE_TITLE) ? i : null; },
      { timeout: 3000, interval: 100 });
    assert.ok(img, `the screenshot shows its focused title bar where it went`);
    assert.ok(near(pixel(img, one.x + 60, one.y - 10), BG), 'and the desktop where it was');

    // close "two": its close button is the rightmost one in its title bar
    r = await srv.call('input', { session_id: sid, space: 'screen', actions: [
      { type: 'click', x: two.x + 40, y: two.y - 10 },	// focus it first, as a person would
      { type: 'click', x: two.x + two.w - 8, y: two.y - 10 },
    ] });
    assert.ok(!r.isError, textOf(r));
    // (a busy host takes its time: the window manager's close message, xterm's exit)
    const gone = await poll(async () => (await win('two')) === null, { timeout: 15000, interval: 100 });
    assert.ok(gone, `the window closed: ${JSON.stringify(await win('two'))}`);
    const exited = await poll(async () => (await sh('pgrep -fc "xterm -T two" || true')).stdout.trim() === '0', { timeout: 5000, interval: 200 });
    assert.ok(exited, 'and its xterm exited');
    assert.ok(await win('one'), 'the other window is still there');
  });

  test('desktop "bare" is the X server alone; a wrong value is refused', async () => {
    const c = await srv.call('session_create', { display: { desktop: 'bare' } });
    assert.ok(!c.isError, textOf(c));
    const b = c.structuredContent.session_id;
    await srv.call('screenshot', { session_id: b });
    assert.equal((await srv.call('session_info', { session_id: b })).structuredContent.display.desktop, 'bare');
    const ps = await srv.call('execute', { session_id: b, language: 'shell', code: 'ps -eo comm' });
    assert.doesNotMatch(ps.structuredContent.stdout, /^(jwm|xterm)$/m);
    const bad = await srv.call('session_create', { display: { desktop: 'kde' } });
    assert.equal(bad.isError, true);
    assert.match(textOf(bad), /display.desktop" must be "standard"/);
  });
});
