// Shared harness for the REST dialects' end-to-end tests (rest_*.test.mjs).
//
// fixtures/compat/<dialect>.json holds the request/response exchanges recorded from a seed
// document: {dialect, prefix, credential: {header, scheme?}, exchanges: [{name, source, skip?,
// request: {method, path, auth?, headers?, body? | raw?}, response: {status, body, nullable?, nonEmpty?,
// exact?, oneOf?, extra?, values?, contains?}, curl?}], ...}.
//   response.body      the document's example: the answer must have every field, with the same JSON type
//   response.nullable  JSON pointers into body whose field may come back null (a value mcpbox does not
//                      have, documented so); an array's items are its first item ("/data/items/0/ip")
//   response.nonEmpty  JSON pointers of arrays that must have items, so that their items' shape is checked
//   response.exact     JSON pointers whose documented value must come back unchanged
//   response.oneOf     {pointer: [allowed values]}: the document's vocabularies
//   response.extra     {field: JSON type} that mcpbox adds (a superset the document's clients ignore)
//   response.values    {pointer: value} mcpbox must answer (where the document's example is only a shape)
//   response.contains  {pointer: substring}
//
//   loadCompat(name)                    the fixture
//   compatRequest(srv, req, opts)       send one exchange's request ({prefix, key, headers, path})
//   assertExchange(res, ex.response)    check an answer against the recorded one
//   assertCompactJson(res)              FastAPI's bytes: compact JSON, UTF-8 unescaped, no trailing newline
//   runShell(cmd, {base})               a document's curl example, its http://localhost:8080 replaced by base
//   runPython(code, {base})             a document's Python example, the same way, with /usr/bin/python3
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, httpRequest } from './helpers.mjs';

/** The documents' base URL, which the examples hard-code. */
export const DOC_BASE = 'http://localhost:8080';

export function loadCompat(name) {
  return JSON.parse(fs.readFileSync(path.join(REPO, 'fixtures', 'compat', `${name}.json`), 'utf8'));
}

/** null, boolean, integer, number, string, array or object. */
export function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** A JSON pointer (RFC 6901) into v; undefined when it leads nowhere. */
export function pointer(v, ptr) {
  if (ptr === '') return v;
  let cur = v;
  for (const raw of ptr.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

// A documented number may come back as an integer (2.5 documents "a number"), not the other way round.
function typeFits(got, want) {
  return got === want || (want === 'number' && got === 'integer');
}

/**
 * Every field of the documented example is in actual, with the same JSON type (arrays: each element like
 * the first). nullable: pointers into the documented example (an array's items are its item 0) where
 * null may come back instead.
 */
export function assertShape(actual, documented, where = '', nullable = [], docPath = where) {
  const want = jsonType(documented);
  const got = jsonType(actual);
  if (got === 'null' && nullable.includes(docPath)) return;
  assert.ok(typeFits(got, want), `${where || '/'}: ${want} documented, got ${got} (${JSON.stringify(actual)?.slice(0, 200)})`);
  if (want === 'object') {
    for (const [k, v] of Object.entries(documented)) {
      assert.ok(Object.prototype.hasOwnProperty.call(actual, k), `${where}/${k}: documented field missing in ${JSON.stringify(actual).slice(0, 300)}`);
      assertShape(actual[k], v, `${where}/${k}`, nullable, `${docPath}/${k}`);
    }
  } else if (want === 'array' && documented.length) {
    actual.forEach((item, i) => assertShape(item, documented[0], `${where}/${i}`, nullable, `${docPath}/0`));
  }
}

/** res ({status, json, text}) against a recorded response. */
export function assertExchange(res, want, what = '') {
  const ctx = `${what}: ${res.status} ${res.text?.slice(0, 400)}`;
  assert.equal(res.status, want.status, `status: ${ctx}`);
  assert.ok(res.json !== undefined, `not JSON: ${ctx}`);
  for (const p of want.nullable || []) {
    // a nullable pointer that names nothing documented would silently allow nothing: a fixture error
    assert.notEqual(pointer(want.body, p), undefined, `nullable ${p} is not in the documented body`);
  }
  for (const p of want.nonEmpty || []) {
    assert.ok(pointer(res.json, p)?.length > 0, `${p}: an empty list cannot show its items' shape: ${ctx}`);
  }
  if (want.body !== undefined) assertShape(res.json, want.body, '', want.nullable || []);
  for (const p of want.exact || []) assert.deepEqual(pointer(res.json, p), pointer(want.body, p), `${p}: ${ctx}`);
  for (const [p, allowed] of Object.entries(want.oneOf || {})) {
    assert.ok(allowed.includes(pointer(res.json, p)), `${p} is ${JSON.stringify(pointer(res.json, p))}, not one of ${allowed}: ${ctx}`);
  }
  for (const [k, t] of Object.entries(want.extra || {})) {
    assert.ok(typeFits(jsonType(res.json[k]), t), `/${k}: ${t} expected: ${ctx}`);
  }
  for (const [p, v] of Object.entries(want.values || {})) assert.deepEqual(pointer(res.json, p), v, `${p}: ${ctx}`);
  for (const [p, s] of Object.entries(want.contains || {})) {
    assert.ok(String(pointer(res.json, p)).includes(s), `${p} does not contain ${JSON.stringify(s)}: ${ctx}`);
  }
}

/** FastAPI's JSONResponse bytes: compact, non-ASCII as is, no newline after (what JSON.stringify writes, floats aside). */
export function assertCompactJson(res) {
  assert.match(String(res.headers['content-type']), /^application\/json/);
  // Python writes a float that is whole as 1.0, JavaScript as 1
  assert.equal(res.text.replace(/(\d)\.0(?=[,}\]])/g, '$1'), JSON.stringify(JSON.parse(res.text)), 'not compact JSON');
}

/**
 * Send a recorded request. opts: prefix (e.g. '/compat/executor'), key (added as the dialect's
 * credential when req.auth), headers (override), path (override), body (override).
 */
export function compatRequest(srv, req, { prefix = '', key, credential = { header: 'Authorization', scheme: 'Bearer' }, headers = {}, path: p, body } = {}) {
  const h = { ...(req.headers || {}) };
  if (req.auth && key) h[credential.header] = credential.scheme ? `${credential.scheme} ${key}` : key;
  Object.assign(h, headers);
  const b = body !== undefined ? body : req.raw !== undefined ? req.raw : req.body;
  return httpRequest(srv, { method: req.method, path: prefix + (p || req.path), headers: h, body: b, timeout: 60000 });
}

function run(cmd, args, { input, timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} timed out: ${stderr}`)); }, timeout);
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input ?? '');
  });
}

/** A shell command from a document (curl ...) with its base URL replaced: {code, stdout, stderr, json}. */
export async function runShell(command, { base }) {
  const r = await run('/bin/sh', ['-c', command.split(DOC_BASE).join(base)]);
  try { r.json = JSON.parse(r.stdout); } catch { /* not JSON */ }
  return r;
}

/** Python code from a document with its base URL replaced, run by /usr/bin/python3 (Debian's packages). */
export function runPython(code, { base }) {
  return run('/usr/bin/python3', ['-'], { input: code.split(DOC_BASE).join(base) });
}
