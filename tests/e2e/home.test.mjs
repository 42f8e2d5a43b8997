// GET / for a person with a browser: a short page saying what this is and how to connect;
// API clients (Accept: application/json, */*, or none) keep the executor dialect's (001) JSON there.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServe, httpRequest, launchChromium } from './helpers.mjs';

describe('the server address opened in a browser', () => {
  let srv;
  before(async () => { srv = await startServe({}); });
  after(async () => { await srv?.close(); });

  test('a browser gets an HTML page naming the MCP endpoint and the docs (headless Chromium)', async (t) => {
    const browser = await launchChromium(t);
    if (!browser) return;
    try {
      const page = await browser.newPage();
      const res = await page.goto(srv.base + '/');
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /^text\/html; charset=utf-8/);
      assert.equal(await page.title(), 'mcpbox');
      const text = await page.innerText('body');
      assert.match(text, /MCP endpoint: \/mcp/);
      assert.match(text, /Authorization: Bearer KEY/);
      assert.match(text, /docs\/tools\.md/);
    } finally {
      await browser.close();
    }
  });

  test('API clients keep the JSON answer: Accept application/json, */* (curl) or none', async () => {
    for (const accept of ['application/json', '*/*', undefined, 'text/html, application/json']) {
      const r = await httpRequest(srv, { method: 'GET', path: '/', headers: { Accept: accept } });
      assert.equal(r.status, 200, `${accept}`);
      assert.match(r.headers['content-type'], /^application\/json/, `${accept}`);
      assert.equal(r.json?.service, 'sandbox-executor', `${accept}: ${r.text.slice(0, 200)}`);
    }
    const html = await httpRequest(srv, { method: 'GET', path: '/', headers: { Accept: 'text/html' } });
    assert.match(html.headers['content-type'], /^text\/html/);
    assert.equal(html.headers.vary, 'Accept');
    assert.match(html.headers['content-security-policy'], /default-src 'none'/);
    // only / is the page: other paths are what they were
    const other = await httpRequest(srv, { method: 'GET', path: '/nope', headers: { Accept: 'text/html' } });
    assert.equal(other.status, 404);
  });
});
