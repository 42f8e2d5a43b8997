// Session-bound MCP endpoints (session_info's mcp_url / mcp_sse_url): a token that works in one
// session and nowhere else, seed 000's tool names as aliases, Streamable HTTP and legacy SSE.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { startServe, httpClient, createKey, textOf } from './helpers.mjs';

async function connect(url, Transport = StreamableHTTPClientTransport) {
  const client = new Client({ name: 'bound-e2e', version: '1.0.0' }, { capabilities: {} });
  await client.connect(new Transport(new URL(url)));
  const call = (name, args = {}) => client.callTool({ name, arguments: args }, undefined, { timeout: 60000 });
  return { client, call, close: () => client.close().catch(() => {}) };
}

describe('session-bound endpoints', () => {
  let srv, owner, sid, other, info;
  before(async () => {
    srv = await startServe();
    owner = await httpClient(srv);
    const made = await owner.call('session_create', {});
    sid = made.structuredContent.session_id;
    other = (await owner.call('session_create', {})).structuredContent.session_id;
    info = (await owner.call('session_info', { session_id: sid })).structuredContent;
  });
  after(async () => { await owner?.close(); await srv?.close(); });

  test('session_info gives both URLs, with a token, under this server', () => {
    assert.match(info.mcp_url, new RegExp(`^${srv.base}/sessions/${sid}/mcp\\?token=[0-9a-f]{32}$`));
    assert.match(info.mcp_sse_url, new RegExp(`^${srv.base}/sessions/${sid}/sse\\?token=[0-9a-f]{32}$`));
  });

  test('the token alone connects; the session\'s tools and the aliases are offered, nothing else', async () => {
    const b = await connect(info.mcp_url);
    try {
      const names = (await b.client.listTools()).tools.map((t) => t.name);
      for (const n of ['read_file', 'write_file', 'list_directory', 'delete_file', 'run_command', 'execute', 'file_read', 'screenshot'])
        assert.ok(names.includes(n), `missing ${n}: ${names}`);
      for (const n of ['session_create', 'session_list', 'session_destroy', 'snapshot_delete'])
        assert.ok(!names.includes(n), `${n} must not be offered on a bound endpoint`);
      // refused even when called by name
      const r = await b.client.callTool({ name: 'session_list', arguments: {} }).catch((e) => e);
      assert.ok(r instanceof Error || r.isError, 'session_list is not callable');
    } finally { await b.close(); }
  });

  test('terminals, jobs and kernel_restart work there too, in the bound session only', async () => {
    const b = await connect(info.mcp_url);
    try {
      const names = (await b.client.listTools()).tools.map((t) => t.name);
      for (const n of ['terminal_open', 'terminal_write', 'terminal_read', 'terminal_resize', 'terminal_close',
        'terminal_list', 'kernel_restart', 'job_status', 'job_wait', 'session_logs'])
        assert.ok(names.includes(n), `missing ${n}: ${names}`);
      let r = await b.call('terminal_open', {});
      assert.ok(!r.isError, textOf(r));
      const tid = r.structuredContent.terminal_id;
      assert.equal(r.structuredContent.session_id, sid);
      await b.call('terminal_write', { terminal_id: tid, data: 'echo bound-$((6*7))', keys: ['Enter'] });
      let screen = '';
      for (let i = 0; i < 40 && !/^bound-42$/m.test(screen); i++)
        screen = (await b.call('terminal_read', { terminal_id: tid, wait_ms: 500 })).structuredContent.screen;
      assert.match(screen, /^bound-42$/m);
      assert.deepEqual((await b.call('terminal_list', {})).structuredContent.terminals.map((t) => t.terminal_id), [tid]);
      // the owner's terminal in another session stays out of reach
      const theirs = (await owner.call('terminal_open', { session_id: other })).structuredContent.terminal_id;
      assert.equal((await b.call('terminal_read', { terminal_id: theirs })).isError, true);
      assert.equal((await b.call('terminal_open', { session_id: other })).isError, true);
      assert.ok(!(await b.call('terminal_close', { terminal_id: tid })).isError);
      await owner.call('terminal_close', { terminal_id: theirs });
      // a kernel cell, then a restart: its variables are gone
      r = await b.call('execute', { language: 'python', kernel: true, code: 'kept = 6 * 7\nkept' });
      assert.match(textOf(r), /Out: 42/);
      r = await b.call('kernel_restart', {});
      assert.ok(!r.isError, textOf(r));
      assert.equal(r.structuredContent.session_id, sid);
      r = await b.call('execute', { language: 'python', kernel: true, code: 'kept' });
      assert.match(textOf(r), /NameError/);
      assert.equal((await b.call('kernel_restart', { session_id: other })).isError, true);
    } finally { await b.close(); }
  });

  test('the aliases act on the bound session, as the owner sees it', async () => {
    const b = await connect(info.mcp_url);
    try {
      let r = await b.call('write_file', { path: 'notes.txt', content: 'one\ntwo\nthree\n' });
      assert.ok(!r.isError, textOf(r));
      r = await b.call('write_file', { path: 'notes.txt', content: 'four\n', append: true });
      assert.ok(!r.isError, textOf(r));
      r = await b.call('read_file', { path: 'notes.txt', offset: 1, limit: 2 });
      assert.equal(r.structuredContent.content, 'two\nthree\n');
      assert.equal(r.structuredContent.truncated, true);
      r = await b.call('read_file', { path: 'notes.txt' });
      assert.equal(r.structuredContent.content, 'one\ntwo\nthree\nfour\n');
      r = await b.call('run_command', { command: 'mkdir -p d && touch d/x .hidden && echo done' });
      assert.ok(!r.isError, textOf(r));
      assert.equal(r.structuredContent.stdout, 'done\n');
      r = await b.call('list_directory', {});
      const paths = r.structuredContent.entries.map((e) => e.path ?? e.name);
      assert.ok(paths.some((p) => /notes\.txt$/.test(p)), JSON.stringify(paths));
      assert.ok(!paths.some((p) => /\.hidden$/.test(p)), 'hidden entries only on request');
      r = await b.call('list_directory', { include_hidden: true });
      assert.ok(r.structuredContent.entries.some((e) => /\.hidden$/.test(e.path ?? e.name)));
      r = await b.call('run_command', { command: 'exit 3' });
      assert.equal(r.isError, true);
      assert.match(textOf(r), /status 3/);
      r = await b.call('run_command', { command: 'exit 3', allow_nonzero_exit_code: true });
      assert.ok(!r.isError);
      assert.equal(r.structuredContent.exit_code, 3);
      r = await b.call('write_file', { path: 'e.txt', content: 'a\nb\nc\n' });
      r = await b.call('edit_file', { path: 'e.txt', operations: [
        { type: 'replace', start_line: 2, content: 'B' },
        { type: 'insert', start_line: 1, content: 'top' },
        { type: 'insert', start_line: 4, content: 'end' },
      ] });
      assert.ok(!r.isError, textOf(r));
      assert.equal(r.structuredContent.applied, 3);
      r = await b.call('read_file', { path: 'e.txt' });
      assert.equal(r.structuredContent.content, 'top\na\nB\nc\nend\n', 'line numbers refer to the file before the call');
      r = await b.call('edit_file', { path: 'e.txt', operations: [{ type: 'replace', start_line: 99, content: 'x' }] });
      assert.equal(r.isError, true, 'a line past the end is refused');
      r = await b.call('grep_search', { pattern: 'THREE' });
      assert.ok(!r.isError, textOf(r));
      assert.deepEqual(r.structuredContent.matches.map((m) => [m.path, m.line]), [['notes.txt', 3]], 'case-insensitive by default');
      r = await b.call('grep_search', { pattern: 'THREE', case_sensitive: true });
      assert.equal(r.structuredContent.matches.length, 0);
      await b.call('write_file', { path: 'd/deep.txt', content: 'three deep\n' });
      r = await b.call('grep_search', { pattern: 'three', recursive: false });
      assert.deepEqual(r.structuredContent.matches.map((m) => m.path), ['notes.txt'], 'recursive: false stays in path');
      r = await b.call('grep_search', { pattern: 'three', include_pattern: 'deep*' });
      assert.deepEqual(r.structuredContent.matches.map((m) => m.path), ['d/deep.txt']);
      r = await b.call('search_files', { pattern: 'ote' });
      assert.ok(!r.isError, textOf(r));
      assert.deepEqual(r.structuredContent.matches.map((m) => m.path), ['notes.txt'], 'a plain word matches part of a name');
      r = await b.call('search_files', { pattern: '{x,y}' });
      assert.deepEqual(r.structuredContent.matches.map((m) => m.path), ['d/x'], 'a glob matches names at any depth');
      r = await b.call('delete_file', { path: 'd', recursive: true });
      assert.ok(!r.isError, textOf(r));
      // the owner's own connection sees the same workspace
      r = await owner.call('file_read', { session_id: sid, path: 'notes.txt' });
      assert.equal(r.structuredContent.content, 'one\ntwo\nthree\nfour\n');
      r = await owner.call('file_list', { session_id: sid });
      assert.ok(!r.structuredContent.entries.some((e) => e.name === 'd'));
      // another session of the same owner is out of reach
      r = await b.call('execute', { session_id: other, language: 'shell', code: 'echo no' });
      assert.equal(r.isError, true);
      assert.match(textOf(r), new RegExp(`session ${sid} only`));
    } finally { await b.close(); }
  });

  test('legacy HTTP+SSE at mcp_sse_url', async () => {
    const b = await connect(info.mcp_sse_url, SSEClientTransport);
    try {
      const r = await b.call('read_file', { path: 'notes.txt', limit: 1 });
      assert.equal(r.structuredContent.content, 'one\n');
    } finally { await b.close(); }
  });

  test('wrong, foreign or missing tokens and keys are refused', async () => {
    const tok = new URL(info.mcp_url).searchParams.get('token');
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const post = (url, headers = {}) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: init });
    assert.equal((await post(`${srv.base}/sessions/${sid}/mcp?token=${'0'.repeat(32)}`)).status, 401);
    assert.equal((await post(`${srv.base}/sessions/${other}/mcp?token=${tok}`)).status, 401, "one session's token does not open another");
    assert.equal((await post(`${srv.base}/sessions/${sid}/mcp`, { authorization: `Bearer ${srv.key}` })).status, 401, 'bound endpoints take the token, not a key');
    const b = createKey(srv.dataDir, { name: 'b' });
    assert.equal((await post(`${srv.base}/sessions/${sid}/mcp`, { authorization: `Bearer ${b.key}` })).status, 401);
    // an MCP session made on /mcp cannot be used through a bound path, nor the reverse
    const plain = await post(`${srv.base}/mcp`, { authorization: `Bearer ${srv.key}` });
    const mcpSession = plain.headers.get('mcp-session-id');
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const r = await fetch(`${srv.base}/sessions/${sid}/mcp?token=${tok}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': mcpSession }, body: list });
    assert.equal(r.status, 404);
  });

  test('destroying the session ends its token', async () => {
    const gone = (await owner.call('session_create', {})).structuredContent.session_id;
    const url = (await owner.call('session_info', { session_id: gone })).structuredContent.mcp_url;
    const b = await connect(url);
    await b.close();
    await owner.call('session_destroy', { session_id: gone });
    await assert.rejects(connect(url), /401|Unauthorized/);
  });
});
