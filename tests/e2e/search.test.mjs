// glob, grep and file_edit through the official SDK client, on a workspace with hostile corners
// (symlinks out of the workspace, a FIFO, binary files, long lines).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClient, textOf, exec } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startClient();
  // listTools first: the SDK then validates every structuredContent against the tool's outputSchema
  await srv.client.listTools();
  const r = await exec(srv, 'shell', [
    'set -e',
    'mkdir -p src/lib src/deep/a/b docs .git/objects node_modules/x',
    'printf "int main(void)\\n{\\n\\treturn helper(1);\\n}\\n" > src/main.c',
    'printf "int helper(int x)\\n{\\n\\treturn x + 1;\\n}\\n" > src/lib/helper.c',
    'printf "int helper(int x);\\n" > src/lib/helper.h',
    'printf "deep helper\\n" > src/deep/a/b/z.c',
    'printf "# Title\\nhelper docs\\n" > docs/README.md',
    'printf "helper in git\\n" > .git/objects/x.c',
    'printf "helper in node_modules\\n" > node_modules/x/i.c',
    'printf ".hidden helper\\n" > .hidden.c',
    'printf "helper\\000binary\\n" > blob.bin',
    'ln -s / rootlink',
    'ln -s /etc/passwd pwlink',
    'ln -s src srclink',
    'mkfifo fifo.c',
    'touch -d "2001-01-01" src/lib/helper.h',
  ].join('\n'));
  assert.equal(r.sc.exit_code, 0, textOf(r));
});
after(async () => { await srv?.close(); });

function assertOk(r, what = '') {
  assert.ok(!r.isError, `${what} unexpectedly failed: ${textOf(r)}`);
}
function assertErr(r, ...mentions) {
  assert.equal(r.isError, true, `expected isError, got ${JSON.stringify(r).slice(0, 500)}`);
  const t = textOf(r);
  for (const m of mentions) assert.ok(t.includes(m), `error text should mention ${JSON.stringify(m)}: ${t}`);
}
const paths = (r) => r.structuredContent.matches.map((m) => m.path);

describe('glob', () => {
  test('**/*.c finds C files at every depth, sorted, not in .git, FIFO listed as other', async () => {
    const r = await srv.call('glob', { pattern: '**/*.c' });
    assertOk(r);
    assert.deepEqual(paths(r), ['.hidden.c', 'fifo.c', 'node_modules/x/i.c', 'src/deep/a/b/z.c',
      'src/lib/helper.c', 'src/main.c']);
    assert.equal(r.structuredContent.truncated, false);
    assert.equal(r.structuredContent.count, 6);
    const fifo = r.structuredContent.matches.find((m) => m.path === 'fifo.c');
    assert.equal(fifo.type, 'other');
    assert.match(textOf(r), /^\.hidden\.c\nfifo\.c\n/);
  });

  test('*.c is the top level only; braces and sets', async () => {
    assert.deepEqual(paths(await srv.call('glob', { pattern: '*.c' })), ['.hidden.c', 'fifo.c']);
    assert.deepEqual(paths(await srv.call('glob', { pattern: 'src/**/*.{c,h}' })),
      ['src/deep/a/b/z.c', 'src/lib/helper.c', 'src/lib/helper.h', 'src/main.c']);
    assert.deepEqual(paths(await srv.call('glob', { pattern: 'src/lib/helper.[ch]' })),
      ['src/lib/helper.c', 'src/lib/helper.h']);
  });

  test('under a path: results are workspace paths; directories with a trailing slash in the text', async () => {
    const r = await srv.call('glob', { pattern: '*', path: '/workspace/src' });
    assertOk(r);
    assert.deepEqual(paths(r), ['src/deep', 'src/lib', 'src/main.c']);
    assert.equal(r.structuredContent.matches[0].type, 'directory');
    assert.match(textOf(r), /^src\/deep\/\nsrc\/lib\/\nsrc\/main\.c\n$/);
  });

  test('symlinks are listed, never followed', async () => {
    const r = await srv.call('glob', { pattern: '**' });
    assertOk(r);
    const p = paths(r);
    for (const l of ['rootlink', 'pwlink', 'srclink']) {
      assert.ok(p.includes(l), `${l} listed`);
      assert.equal(r.structuredContent.matches.find((m) => m.path === l).type, 'symlink');
    }
    assert.ok(!p.some((x) => x.startsWith('rootlink/') || x.startsWith('srclink/')), `nothing below a symlink: ${p}`);
    assert.ok(!p.some((x) => x.startsWith('.git')), '.git skipped');
    assert.deepEqual(paths(await srv.call('glob', { pattern: 'rootlink/etc/*' })), []);
  });

  test('sort mtime: newest first', async () => {
    const r = await srv.call('glob', { pattern: 'src/lib/*', sort: 'mtime' });
    assertOk(r);
    assert.deepEqual(paths(r), ['src/lib/helper.c', 'src/lib/helper.h']);
    assert.ok(r.structuredContent.matches[0].mtime > r.structuredContent.matches[1].mtime);
  });

  test('max_results truncates and says so', async () => {
    const r = await srv.call('glob', { pattern: '**/*.c', max_results: 2 });
    assertOk(r);
    assert.deepEqual(paths(r), ['.hidden.c', 'fifo.c']);
    assert.equal(r.structuredContent.truncated, true);
    assert.equal(r.structuredContent.reason, 'max_results');
    assert.match(textOf(r), /truncated: first 2 results/);
    const m = await srv.call('glob', { pattern: 'src/**', sort: 'mtime', max_results: 1 });
    assert.equal(m.structuredContent.truncated, true);
    assert.equal(m.structuredContent.count, 1);
  });

  test('no match is not an error', async () => {
    const r = await srv.call('glob', { pattern: '**/*.rs' });
    assertOk(r);
    assert.deepEqual(paths(r), []);
    assert.match(textOf(r), /no matches/);
  });

  test('errors: escapes, a symlink as the path, missing path, bad patterns', async () => {
    assertErr(await srv.call('glob', { pattern: '*', path: '../' }), 'escapes the workspace');
    assertErr(await srv.call('glob', { pattern: '*', path: '/etc' }), 'outside the workspace');
    assertErr(await srv.call('glob', { pattern: '*', path: 'rootlink' }), 'escapes');
    assertErr(await srv.call('glob', { pattern: '*', path: 'nope' }), 'does not exist');
    assertErr(await srv.call('glob', { pattern: '*', path: 'src/main.c' }), 'not a directory');
    assertErr(await srv.call('glob', { pattern: '/' }), 'pattern', 'empty');
    assertErr(await srv.call('glob', { pattern: '{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}' }), 'alternatives');
  });
});
