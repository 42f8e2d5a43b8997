// SoulBox (seed API 004) uploads streamed to disk and downloads streamed from it (server/rest/soulbox_files.c
// over transport/http_route.c's streamed bodies and tools/file_stream.c's sinks): 100 MB with curl -F and with
// Python requests lands byte for byte while the server's memory grows by far less than the file; the cap
// (max_upload) is SoulBox's 413 and leaves nothing; an upload in progress is an unnamed file, so neither a
// client that leaves nor a server killed mid-upload leaves anything; chunked bodies (curl, Python http.client)
// are decoded and capped; paths that escape, through a symlink too, are refused before a byte is written; a
// read-only key cannot upload; the disk quota stops an upload (403, not a rate limit); a 100 MB download comes
// back byte for byte with its type and length.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startServe, createKey, poll, sleep, makeDataDir, rmQuiet, UNDER_ASAN } from './helpers.mjs';
import { sb, assertError } from './soulbox_client.mjs';

const MB = 1024 * 1024;
// the peak-RSS growth allowed for 100 MB: the sink holds 4 MiB, a download's queue 8 MiB; under make asan
// the sanitizer's quarantine keeps freed buffers (up to 256 MB), so only a far looser bound holds there
const RSS_BOUND = (UNDER_ASAN ? 80 : 25) * MB;

function run(cmd, args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** VmHWM (the peak resident set) of a process, in bytes. */
function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/** Run bash in the sandbox: its output. */
async function sh(srv, key, id, code) {
  const r = await sb(srv, key, 'POST', '/api/execute', { language: 'bash', code, sandbox_id: id });
  assert.equal(r.status, 200, r.text);
  return r.json.output;
}

/** The workspace's temporary upload files (none once every upload ended). */
async function leftovers(srv, key, id) {
  const out = await sh(srv, key, id, 'find /workspace -name ".upload-*" | sort');
  return out.split('\n').filter(Boolean);
}

/** Send the head of a 50 MB upload of a file named name and its first 10 MB: the socket (the body never ends). */
async function startUpload(srv, key, id, name, fields = '') {
  const boundary = 'leaveboundary';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="sandbox_id"\r\n\r\n${id}\r\n${fields}` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\n`);
  const sock = net.connect(srv.port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise((resolve) => sock.once('connect', resolve));
  sock.write(`POST /api/files/upload HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nX-API-Key: ${key}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + 50 * MB}\r\n\r\n`);
  sock.write(head);
  const piece = crypto.randomBytes(MB);
  for (let i = 0; i < 10; i++) await new Promise((resolve) => sock.write(piece, resolve));
  return sock;
}

/** The server's open unnamed (O_TMPFILE) file in a workspace (DATA/workspaces/…), as /proc shows it ("DIR/#INODE (deleted)"), or null. */
function unnamedUpload(srv) {
  const fdDir = `/proc/${srv.pid}/fd`;
  for (const fd of fs.readdirSync(fdDir)) {
    let link;
    try { link = fs.readlinkSync(`${fdDir}/${fd}`); } catch { continue; }
    if (link.startsWith(path.join(srv.dataDir, 'workspaces') + '/') && /\/#\d+ \(deleted\)$/.test(link)) return link;
  }
  return null;
}

let dir;
let big;          // a 100 MB file of random bytes
let bigSha;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-sbfiles-'));
  big = path.join(dir, 'big.bin');
  const data = crypto.randomBytes(100 * MB);
  fs.writeFileSync(big, data);
  bigSha = crypto.createHash('sha256').update(data).digest('hex');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('soulbox (004): uploads and downloads streamed', () => {
  let srv;
  let alice;
  let id;
  before(async () => {
    srv = await startServe({ config: { max_upload: '150M', compat: { soulbox: { rate_limits: { requests: 10000, executions: 10000, uploads: 10000 } } } } });
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
    id = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'stream' })).json.sandbox_id;
  });
  after(async () => { await srv?.close(); });

  test('100 MB with curl -F lands byte for byte; the server grows by much less than the file', async () => {
    const before0 = peakRss(srv.pid);
    const r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-F', `sandbox_id=${id}`, '-F', `file=@${big}`, '-F', 'path=/workspace/up/curl.bin']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.files.map((f) => [f.name, f.path, f.size]), [['curl.bin', '/workspace/up/curl.bin', 100 * MB]], r.stdout);
    assert.equal((await sh(srv, alice, id, 'sha256sum up/curl.bin')).split(' ')[0], bigSha);
    const grew = peakRss(srv.pid) - before0;
    assert.ok(grew < RSS_BOUND, `the server's peak RSS grew by ${(grew / MB).toFixed(1)} MB for a 100 MB upload (the sink holds 4 MiB before the socket waits)`);
    assert.deepEqual(await leftovers(srv, alice, id), []);
  });

  test('100 MB with Python requests (files= and data=) lands byte for byte', async () => {
    const code = `
import requests, sys
with open(${JSON.stringify(big)}, 'rb') as f:
    r = requests.post(${JSON.stringify(`${srv.base}/api/files/upload`)}, headers={'X-API-Key': ${JSON.stringify(alice)}},
                      data={'sandbox_id': ${JSON.stringify(id)}, 'path': 'up/'}, files={'file': ('py.bin', f)})
print(r.status_code)
print(r.text)
`;
    const r = await run('/usr/bin/python3', ['-'], { input: code });
    assert.equal(r.code, 0, r.stderr);
    const [status, body] = r.stdout.split('\n');
    assert.equal(status, '200', r.stdout);
    assert.deepEqual(JSON.parse(body).files.map((f) => [f.path, f.size]), [['/workspace/up/py.bin', 100 * MB]]);
    assert.equal((await sh(srv, alice, id, 'sha256sum up/py.bin')).split(' ')[0], bigSha);
  });

  test('a 100 MB download comes back byte for byte, with Content-Type and Content-Length, without growing the server', async () => {
    const before0 = peakRss(srv.pid);
    const res = await fetch(`${srv.base}/api/sandboxes/${id}/files/up/curl.bin`, { headers: { 'X-API-Key': alice } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(100 * MB));
    const h = crypto.createHash('sha256');
    let n = 0;
    for await (const chunk of res.body) { h.update(chunk); n += chunk.length; }
    assert.equal(n, 100 * MB);
    assert.equal(h.digest('hex'), bigSha);
    const grew = peakRss(srv.pid) - before0;
    assert.ok(grew < RSS_BOUND, `the server's peak RSS grew by ${(grew / MB).toFixed(1)} MB for a 100 MB download`);
    await sh(srv, alice, id, 'printf "a,b\\n" > t.csv');
    const csv = await fetch(`${srv.base}/api/sandboxes/${id}/files/t.csv`, { headers: { 'X-API-Key': alice } });
    assert.match(csv.headers.get('content-type'), /^text\/csv/);
    assert.equal(await csv.text(), 'a,b\n');
  });

  test('fields after the file part: up to 8 MiB of it is held until sandbox_id comes; more is refused, nothing left', async () => {
    const small = path.join(dir, 'first.bin');
    const data = crypto.randomBytes(3 * MB + 5);
    fs.writeFileSync(small, data);
    let r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-F', `file=@${small}`, '-F', 'path=late/first.bin', '-F', `sandbox_id=${id}`]);
    assert.deepEqual(JSON.parse(r.stdout).files.map((f) => [f.path, f.size]), [['/workspace/late/first.bin', data.length]], r.stdout);
    assert.equal((await sh(srv, alice, id, 'sha256sum late/first.bin')).split(' ')[0], crypto.createHash('sha256').update(data).digest('hex'));
    r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-F', `file=@${big}`, '-F', `sandbox_id=${id}`, '-w', '\n%{http_code}']);
    const at = r.stdout.lastIndexOf('\n');
    assert.equal(r.stdout.slice(at + 1), '400', r.stdout);
    const e = JSON.parse(r.stdout.slice(0, at)).error;
    assert.equal(e.code, 'VALIDATION_ERROR');
    assert.equal(e.details.field, 'sandbox_id');
    assert.deepEqual(await leftovers(srv, alice, id), []);
  });

  test('chunked uploads (no Content-Length) are decoded and streamed: curl -F and -T, Python http.client', async () => {
    const data = crypto.randomBytes(7 * MB + 3);
    const file = path.join(dir, 'chunked.bin');
    fs.writeFileSync(file, data);
    const sha = crypto.createHash('sha256').update(data).digest('hex');
    // curl -F with the header: the multipart body goes chunked (after 100 Continue)
    let r = await run('curl', ['-sS', '-v', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-H', 'Transfer-Encoding: chunked', '-F', `sandbox_id=${id}`, '-F', `file=@${file}`, '-F', 'path=ch/curl-F.bin', '-w', '\n%{http_code}']);
    assert.match(r.stdout, /\n200$/, r.stdout + r.stderr);
    assert.match(r.stderr, /> Transfer-Encoding: chunked/);
    assert.match(r.stderr, /< connection: close/i, 'the connection is not kept: lws would wait out its 100 MiB guess');
    assert.deepEqual(JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n'))).files.map((f) => [f.path, f.size]), [['/workspace/ch/curl-F.bin', data.length]]);
    // curl -T of a multipart body made beforehand: a file of unknown length sent as it is read
    const boundary = 'chunkedboundary';
    const body = path.join(dir, 'chunked.multipart');
    fs.writeFileSync(body, Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="sandbox_id"\r\n\r\n${id}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nch/curl-T.bin\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.bin"\r\n\r\n`),
      data, Buffer.from(`\r\n--${boundary}--\r\n`)]));
    r = await run('curl', ['-sS', '-X', 'POST', '-T', body, `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-H', 'Transfer-Encoding: chunked', '-H', `Content-Type: multipart/form-data; boundary=${boundary}`, '-w', '\n%{http_code}']);
    assert.match(r.stdout, /\n200$/, r.stdout + r.stderr);
    // Python's http.client, a generator body with encode_chunked (chunks of odd sizes)
    const code = `
import http.client, json
def parts():
    yield b'--${boundary}\\r\\nContent-Disposition: form-data; name="sandbox_id"\\r\\n\\r\\n${id}\\r\\n'
    yield b'--${boundary}\\r\\nContent-Disposition: form-data; name="file"; filename="py-chunked.bin"\\r\\n\\r\\n'
    with open(${JSON.stringify(file)}, 'rb') as f:
        while True:
            b = f.read(65521)
            if not b:
                break
            yield b
    yield b'\\r\\n--${boundary}--\\r\\n'
c = http.client.HTTPConnection('127.0.0.1', ${srv.port})
c.request('POST', '/api/files/upload', body=parts(), encode_chunked=True,
          headers={'X-API-Key': ${JSON.stringify(alice)}, 'Content-Type': 'multipart/form-data; boundary=${boundary}'})
r = c.getresponse()
print(r.status, r.getheader('Connection'))
print(json.dumps(json.loads(r.read())['files'][0]['size']))
`;
    const py = await run('/usr/bin/python3', ['-'], { input: code });
    assert.equal(py.stdout, `200 close\n${data.length}\n`, py.stderr);
    const sums = (await sh(srv, alice, id, 'sha256sum ch/curl-F.bin ch/curl-T.bin py-chunked.bin')).trim().split('\n').map((l) => l.split(' ')[0]);
    assert.deepEqual(sums, [sha, sha, sha]);
    assert.deepEqual(await leftovers(srv, alice, id), []);
    // a transfer coding besides chunked is not read: 411 in the envelope
    r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`, '-H', 'Transfer-Encoding: gzip, chunked',
      '-H', `Content-Type: multipart/form-data; boundary=${boundary}`, '--data-binary', 'x', '-w', '\n%{http_code}', '--max-time', '10']);
    assert.match(r.stdout, /\n411$/, r.stdout + r.stderr);
    assert.match(r.stdout, /VALIDATION_ERROR.*Transfer-Encoding: chunked alone/);
  });

  test('a chunked upload past lws\' 100 MiB guess is 413, nothing left; malformed chunk framing is 400 and closes the connection, nothing left', async () => {
    // 105 MB under max_upload (150M): lws takes a body without a length to be 100 MiB long
    const boundary = 'bigchunked';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="sandbox_id"\r\n\r\n${id}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.bin"\r\n\r\n`;
    const sock = net.connect(srv.port, '127.0.0.1');
    sock.on('error', () => {});
    let answer = '';
    sock.on('data', (d) => { answer += d; });
    await new Promise((resolve) => sock.once('connect', resolve));
    const chunk = (b) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
    sock.write(`POST /api/files/upload HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nX-API-Key: ${alice}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    sock.write(chunk(Buffer.from(head)));
    const piece = chunk(crypto.randomBytes(MB));
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.pid}/status`, 'utf8'))[1]) >> 10;
    const before = rss();
    // a hostile client goes on sending past the guess without reading: the server stops reading it
    // (lws would otherwise keep every later byte in its buffer list and spin on it, starving the answer)
    let sent = 0;
    for (let i = 0; i < 160; i++) {
      const written = new Promise((resolve) => sock.write(piece, (err) => resolve(!err)));
      const flushed = await (i < 100 ? written : Promise.race([written, sleep(2000).then(() => false)]));
      if (!flushed) break; // the server stopped reading (the socket is full) or closed the connection
      sent++;
    }
    const got = await poll(() => (/\r\n\r\n\{/.test(answer) ? answer : null), { timeout: 10000, interval: 20 });
    const grew = rss() - before;
    sock.destroy();
    assert.ok(got, `no answer (${sent} MiB sent)`);
    assert.ok(sent < 120, `the server read ${sent} MiB of a body past its 100 MiB guess: ${got.slice(0, 400)}`);
    if (!UNDER_ASAN) assert.ok(grew < 40, `the server grew by ${grew} MB on bytes past the guess`);
    assert.match(got, /^HTTP\/1\.1 413/);
    assert.match(got, /RESOURCE_LIMIT_EXCEEDED.*chunked body at most 100 MiB/);
    assert.ok(await poll(async () => ((await leftovers(srv, alice, id)).length === 0 && !unnamedUpload(srv) ? true : null), { timeout: 5000, interval: 50 }));
    assert.equal((await sh(srv, alice, id, 'ls huge.bin 2>&1 | grep -c "No such"')).trim(), '1');
    // a chunk size that is not hex: the request ends there, the connection is closed, nothing is written
    const bad = net.connect(srv.port, '127.0.0.1');
    bad.on('error', () => {});
    await new Promise((resolve) => bad.once('connect', resolve));
    let refusal = '';
    bad.on('data', (d) => { refusal += d; });
    const closed = new Promise((resolve) => bad.once('close', resolve));
    bad.write(`POST /api/files/upload HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nX-API-Key: ${alice}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nTransfer-Encoding: chunked\r\n\r\n`);
    bad.write(chunk(Buffer.from(head.replace('huge.bin', 'badframe.bin'))));
    bad.write('zz\r\nnot a chunk\r\n');
    assert.ok(await Promise.race([closed.then(() => true), sleep(5000).then(() => false)]), 'the connection stays open');
    assert.match(refusal, /^HTTP\/1\.1 400/);
    assert.match(refusal, /VALIDATION_ERROR.*chunked framing is malformed/);
    assert.deepEqual(await leftovers(srv, alice, id), []);
    assert.equal((await sh(srv, alice, id, 'ls badframe.bin 2>&1 | grep -c "No such"')).trim(), '1');
  });

  test('an upload in progress is an unnamed file: nothing in the workspace, and nothing left when the client leaves', async () => {
    const sock = await startUpload(srv, alice, id, 'gone.bin');
    // the part is being written to a file of the workspace's that has no name ...
    const held = await poll(() => unnamedUpload(srv), { timeout: 5000, interval: 50 });
    assert.ok(held, 'the server holds no unnamed file of the workspace');
    assert.deepEqual(await leftovers(srv, alice, id), []);
    sock.destroy();
    // ... and once the client is gone, the server holds it no more and nothing of it is anywhere
    assert.ok(await poll(() => (unnamedUpload(srv) ? null : true), { timeout: 5000, interval: 50 }), 'still held');
    assert.deepEqual(await leftovers(srv, alice, id), []);
    assert.equal((await sh(srv, alice, id, 'ls gone.bin up/gone.bin 2>&1 | grep -c "No such"')).trim(), '2');
  });

  test('a file that exists is replaced by an upload (single file, path names it)', async () => {
    for (const text of ['first version', 'second, longer version']) {
      const r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
        '-F', `sandbox_id=${id}`, '-F', 'file=@-;filename=x.txt', '-F', 'path=rep/r.txt', '-w', '\n%{http_code}'], { input: text });
      assert.match(r.stdout, /\n200$/, r.stdout);
      assert.equal(await sh(srv, alice, id, 'cat rep/r.txt'), text);
    }
    assert.deepEqual(await leftovers(srv, alice, id), []);
    assert.equal((await sh(srv, alice, id, 'ls -A rep')).trim(), 'r.txt');
  });

  test('paths that escape the workspace are refused, in upload (nothing left) and in download', async () => {
    for (const p of ['../escape.bin', '/etc/escape.bin', 'lnk/escape.bin']) {
      await sh(srv, alice, id, 'ln -sfn / lnk');
      const r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
        '-F', `sandbox_id=${id}`, '-F', `file=@${big};filename=e.bin`, '-F', `path=${p}`, '-w', '\n%{http_code}']);
      const [body, status] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)];
      assert.equal(status, '400', `${p}: ${r.stdout}`);
      assert.equal(JSON.parse(body).error.code, 'VALIDATION_ERROR');
    }
    assert.deepEqual(await leftovers(srv, alice, id), []);
    assert.ok(!fs.existsSync('/escape.bin') && !fs.existsSync('/etc/escape.bin'));
    // a path field that escapes is refused as it arrives, before the file part is sent (the client waits)
    const boundary = 'earlyboundary';
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    let answer = '';
    sock.on('data', (d) => { answer += d; });
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="sandbox_id"\r\n\r\n${id}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n../../etc/early.bin\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="e.bin"\r\n\r\n`;
    sock.write(`POST /api/files/upload HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nX-API-Key: ${alice}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + 50 * MB}\r\n\r\n${head}`);
    const early = await poll(() => (/\r\n\r\n\{/.test(answer) ? answer : null), { timeout: 5000, interval: 20 });
    sock.destroy();
    assert.ok(early, 'no answer before the body ended');
    assert.match(early, /^HTTP\/1\.1 400/);
    assert.match(early, /VALIDATION_ERROR/);
    // a path through a symlink to "/" or ".." is refused as the file part begins: before a byte of it is written
    await sh(srv, alice, id, 'ln -sfn / lnk && ln -sfn .. up1');
    for (const p of ['lnk/open-escape.bin', 'up1/open-escape.bin', 'up1']) {
      let got = '';
      const s2 = await startUpload(srv, alice, id, 'open-escape.bin',
        `--leaveboundary\r\nContent-Disposition: form-data; name="path"\r\n\r\n${p}\r\n`);
      s2.on('data', (d) => { got += d; });
      const refused = await poll(() => (/\r\n\r\n\{/.test(got) ? got : null), { timeout: 5000, interval: 20 });
      s2.destroy();
      assert.ok(refused, `${p}: no answer before the body ended`);
      assert.match(refused, /^HTTP\/1\.1 400/, p);
      assert.match(refused, /VALIDATION_ERROR.*escapes the workspace/, p);
      assert.equal(unnamedUpload(srv), null, `${p}: the server holds a file for it`);
    }
    assert.ok(!fs.existsSync('/open-escape.bin'));
    assert.equal((await sh(srv, alice, id, 'find / -xdev -name open-escape.bin 2>/dev/null | wc -l')).trim(), '0');
    // (seen from the host, ".." of the workspace is DATA/workspaces)
    assert.ok(!fs.existsSync(path.join(srv.dataDir, 'workspaces', 'open-escape.bin')));
    assertError(await sb(srv, alice, 'GET', `/api/sandboxes/${id}/files/lnk/etc/passwd`), 400, 'VALIDATION_ERROR');
    // (lws decodes %2F and folds ".." before routing: this one never reaches the route)
    const enc = await sb(srv, alice, 'GET', `/api/sandboxes/${id}/files/..%2F..%2Fetc%2Fpasswd`);
    assert.ok(enc.status >= 400 && !enc.text.includes('root:'), enc.text);
  });

  test('a sandbox past its own disk_limit: the upload stops and leaves nothing', async () => {
    const made = await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'small-disk', resources: { disk_limit: '16M' } });
    assert.equal(made.status, 201, made.text);
    const sid = made.json.sandbox_id;
    const f = path.join(dir, 'twenty.bin');
    fs.writeFileSync(f, crypto.randomBytes(20 * MB));
    const r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-F', `sandbox_id=${sid}`, '-F', `file=@${f}`, '-w', '\n%{http_code}']);
    const at = r.stdout.lastIndexOf('\n');
    const j = JSON.parse(r.stdout.slice(0, at));
    assert.equal(j.error?.code, 'RESOURCE_LIMIT_EXCEEDED', r.stdout);
    assert.match(j.error.message, /disk_mb/);
    assert.deepEqual(await leftovers(srv, alice, sid), []);
  });

  test('a slow upload past disk_limit stops though the disk scan measures the workspace meanwhile', async () => {
    // the upload's file has no name until it is complete, so the scan (every 2 s while the workspace
    // is being written) cannot see it: its bytes must survive each measure, or the limit never trips
    const made = await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'slow-disk', resources: { disk_limit: '16M' } });
    assert.equal(made.status, 201, made.text);
    const sid = made.json.sandbox_id;
    const f = path.join(dir, 'slow.bin');
    fs.writeFileSync(f, crypto.randomBytes(24 * MB));
    const r = await run('curl', ['-sS', '--limit-rate', '3M', '-X', 'POST', `${srv.base}/api/files/upload`,
      '-H', `X-API-Key: ${alice}`, '-F', `sandbox_id=${sid}`, '-F', `file=@${f}`, '-w', '\n%{http_code}']);
    const at = r.stdout.lastIndexOf('\n');
    const j = JSON.parse(r.stdout.slice(0, at));
    assert.equal(j.error?.code, 'RESOURCE_LIMIT_EXCEEDED', r.stdout);
    assert.deepEqual(await leftovers(srv, alice, sid), []);
  });

  test('a read-only key (sandbox_read) cannot upload; it can download', async () => {
    const made = await sb(srv, alice, 'POST', '/api/auth/api-keys', { name: 'viewer', permissions: ['sandbox_read'] });
    assert.equal(made.status, 201, made.text);
    const viewer = made.json.key;
    const r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${viewer}`,
      '-F', `sandbox_id=${id}`, '-F', 'file=@-;filename=v.txt', '-w', '\n%{http_code}'], { input: 'viewer was here' });
    assert.match(r.stdout, /\n403$/, r.stdout);
    assert.equal(JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('\n'))).error.code, 'INSUFFICIENT_PERMISSIONS');
    assert.equal((await sh(srv, alice, id, 'ls v.txt 2>&1 | grep -c "No such"')).trim(), '1');
    assert.deepEqual(await leftovers(srv, alice, id), []);
    const dl = await sb(srv, viewer, 'GET', `/api/sandboxes/${id}/files/t.csv`);
    assert.equal(dl.status, 200, dl.text);
  });
});

describe('soulbox (004): a server that dies mid-upload', () => {
  test('leaves nothing of the upload in the workspace (the file had no name yet)', async () => {
    const dataDir = makeDataDir();
    try {
      let srv = await startServe({ dataDir, config: { max_upload: '150M' } });
      const alice = createKey(dataDir, { name: 'alice' }).key;
      const id = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'crash' })).json.sandbox_id;
      const before0 = (await sh(srv, alice, id, 'ls -A /workspace')).split('\n').filter(Boolean);
      const sock = await startUpload(srv, alice, id, 'crash.bin');
      const held = await poll(() => unnamedUpload(srv), { timeout: 5000, interval: 50 });
      assert.ok(held, 'the server holds no unnamed file of the workspace');
      srv.child.kill('SIGKILL');
      await srv.waitExit(5000);
      sock.destroy();
      // the workspace on the host, as the crash left it: what it held before, nothing more
      const ws = path.dirname(held);
      assert.deepEqual(fs.readdirSync(ws).sort(), before0.sort());
      // and the sandbox, after a restart, sees nothing of it either
      srv = await startServe({ dataDir });
      assert.deepEqual((await sh(srv, alice, id, 'ls -A /workspace')).split('\n').filter(Boolean).sort(), before0.sort());
      await srv.close();
    } finally {
      rmQuiet(dataDir);
    }
  });
});

describe('soulbox (004): the upload cap and the disk quota', () => {
  let srv;
  let alice;
  let id;
  before(async () => {
    srv = await startServe({ config: { max_upload: '4M', quota: { disk: '3M' }, compat: { soulbox: { rate_limits: { requests: 10000, executions: 10000, uploads: 10000 } } } } });
    alice = createKey(srv.dataDir, { name: 'alice' }).key;
    id = (await sb(srv, alice, 'POST', '/api/sandboxes', { name: 'capped' })).json.sandbox_id;
  });
  after(async () => { await srv?.close(); });

  const curlUpload = async (file, extra = []) => {
    const r = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`,
      '-F', `sandbox_id=${id}`, '-F', `file=@${file}`, ...extra, '-w', '\n%{http_code}']);
    const at = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(at + 1)), json: JSON.parse(r.stdout.slice(0, at) || 'null'), text: r.stdout };
  };

  test('over max_upload: SoulBox\'s 413 RESOURCE_LIMIT_EXCEEDED, from curl and from requests, and no file left', async () => {
    const f = path.join(dir, 'five.bin');
    fs.writeFileSync(f, crypto.randomBytes(5 * MB));
    const r = await curlUpload(f);
    assert.equal(r.status, 413, r.text);
    assert.equal(r.json.error.code, 'RESOURCE_LIMIT_EXCEEDED');
    assert.match(r.json.error.message, /max_upload/);
    assert.match(r.json.error.request_id, /^req_/);
    const code = `
import requests
r = requests.post(${JSON.stringify(`${srv.base}/api/files/upload`)}, headers={'X-API-Key': ${JSON.stringify(alice)}},
                  data={'sandbox_id': ${JSON.stringify(id)}}, files={'file': ('five.bin', open(${JSON.stringify(f)}, 'rb'))})
print(r.status_code)
print(r.json()['error']['code'])
`;
    const py = await run('/usr/bin/python3', ['-'], { input: code });
    assert.equal(py.stdout, '413\nRESOURCE_LIMIT_EXCEEDED\n', py.stderr);
    assert.equal((await sh(srv, alice, id, 'ls -A /workspace | wc -l')).trim(), '0');
    // sent chunked, the cap holds as the decoded bytes arrive: 413 in the envelope, nothing left
    const ch = await run('curl', ['-sS', '-X', 'POST', `${srv.base}/api/files/upload`, '-H', `X-API-Key: ${alice}`, '-H', 'Transfer-Encoding: chunked',
      '-F', `sandbox_id=${id}`, '-F', `file=@${f}`, '-w', '\n%{http_code}']);
    assert.match(ch.stdout, /\n413$/, ch.stdout + ch.stderr);
    assert.equal(JSON.parse(ch.stdout.slice(0, ch.stdout.lastIndexOf('\n'))).error.code, 'RESOURCE_LIMIT_EXCEEDED');
    assert.equal((await sh(srv, alice, id, 'ls -A /workspace | wc -l')).trim(), '0');
    // under the cap goes through, on the same server
    const small = path.join(dir, 'small.bin');
    fs.writeFileSync(small, crypto.randomBytes(MB));
    assert.equal((await curlUpload(small)).status, 200);
  });

  test('a key past its disk quota: the upload stops (RESOURCE_LIMIT_EXCEEDED) and leaves nothing', async () => {
    const f = path.join(dir, 'three.bin');
    fs.writeFileSync(f, crypto.randomBytes(Math.floor(3.5 * MB)));
    const r = await curlUpload(f, ['-F', 'path=q.bin']);
    assert.equal(r.json?.error?.code, 'RESOURCE_LIMIT_EXCEEDED', r.text);
    assert.equal(r.status, 403, 'a quota, not a rate limit (429)');
    assert.match(r.json.error.message, /disk/);
    assert.deepEqual(await leftovers(srv, alice, id), []);
    assert.equal((await sh(srv, alice, id, 'ls q.bin 2>&1 | grep -c "No such"')).trim(), '1');
  });

});
