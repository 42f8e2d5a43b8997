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

describe('file_edit', () => {
  const read = async (p) => (await srv.call('file_read', { path: p })).structuredContent.content;
  const write = async (p, content) => assertOk(await srv.call('file_write', { path: p, content }));

  test('exact-string replace: unique match, diff and counts; mode kept', async () => {
    await write('e/a.py', 'def f():\n    return 1\n\ndef g():\n    return 1\n');
    await exec(srv, 'shell', 'chmod 755 e/a.py');
    const r = await srv.call('file_edit', { path: 'e/a.py', old_string: 'def g():\n    return 1', new_string: 'def g():\n    return 2' });
    assertOk(r);
    assert.equal(await read('e/a.py'), 'def f():\n    return 1\n\ndef g():\n    return 2\n');
    const sc = r.structuredContent;
    assert.equal(sc.operation, 'replace');
    assert.equal(sc.changes, 1);
    assert.equal(sc.first_line, 4);
    assert.equal(sc.lines_removed, 2);
    assert.equal(sc.lines_added, 2);
    assert.match(sc.diff, /^@@ -1,5 \+1,5 @@\n/);
    assert.match(sc.diff, /\n-    return 1\n\+def g\(\):\n\+    return 2\n$/);
    assert.match(textOf(r), /edited e\/a\.py: 1 replacement, first at line 4/);
    const m = await exec(srv, 'shell', 'stat -c %a e/a.py; ls -a e');
    assert.equal(m.sc.stdout, '755\n.\n..\na.py\n', 'mode kept, no temporary file left');
  });

  test('absent and ambiguous old_string are refused precisely; replace_all', async () => {
    await write('e/b.txt', 'x = 1\ny = 1\nz = 1\n');
    assertErr(await srv.call('file_edit', { path: 'e/b.txt', old_string: 'w = 1', new_string: 'w = 2' }), 'not found', 'exactly');
    assertErr(await srv.call('file_edit', { path: 'e/b.txt', old_string: '= 1', new_string: '= 2' }),
      'occurs 3 times', 'lines 1, 2, 3', 'replace_all');
    assert.equal(await read('e/b.txt'), 'x = 1\ny = 1\nz = 1\n', 'unchanged after a refusal');
    const r = await srv.call('file_edit', { path: 'e/b.txt', old_string: '= 1', new_string: '= 2', replace_all: true });
    assertOk(r);
    assert.equal(r.structuredContent.changes, 3);
    assert.equal(await read('e/b.txt'), 'x = 2\ny = 2\nz = 2\n');
  });

  test('line operations: insert before/after, replace and delete a range', async () => {
    await write('e/c.txt', 'one\ntwo\nthree\n');
    assertOk(await srv.call('file_edit', { path: 'e/c.txt', insert_before: 1, new_string: 'zero' }));
    assertOk(await srv.call('file_edit', { path: 'e/c.txt', insert_after: 4, new_string: 'four\n' }));
    assert.equal(await read('e/c.txt'), 'zero\none\ntwo\nthree\nfour\n');
    let r = await srv.call('file_edit', { path: 'e/c.txt', start_line: 2, end_line: 3, new_string: 'ONE-TWO' });
    assertOk(r);
    assert.equal(r.structuredContent.operation, 'replace_lines');
    assert.equal(await read('e/c.txt'), 'zero\nONE-TWO\nthree\nfour\n');
    r = await srv.call('file_edit', { path: 'e/c.txt', start_line: 1, new_string: '' });
    assertOk(r);
    assert.equal(r.structuredContent.operation, 'delete_lines');
    assert.equal(r.structuredContent.lines_removed, 1);
    assert.equal(await read('e/c.txt'), 'ONE-TWO\nthree\nfour\n');
    assertErr(await srv.call('file_edit', { path: 'e/c.txt', start_line: 2, end_line: 9, new_string: '' }), 'out of range', 'has 3 lines');
    assertErr(await srv.call('file_edit', { path: 'e/c.txt', insert_after: 7, new_string: 'x' }), 'out of range');
  });

  test('argument errors: no operation, two operations, replace_all without old_string', async () => {
    assertErr(await srv.call('file_edit', { path: 'e/c.txt', new_string: 'x' }), 'exactly one of');
    assertErr(await srv.call('file_edit', { path: 'e/c.txt', old_string: 'a', insert_after: 1, new_string: 'x' }), 'exactly one of');
    assertErr(await srv.call('file_edit', { path: 'e/c.txt', insert_after: 1, new_string: 'x', replace_all: true }), 'replace_all');
    assertErr(await srv.call('file_edit', { path: 'e/c.txt', old_string: 'three' }), 'new_string');
  });

  test('refused: escapes, symlinks, binary files, directories, FIFOs, missing files', async () => {
    assertErr(await srv.call('file_edit', { path: '../x', old_string: 'a', new_string: 'b' }), 'escapes the workspace');
    assertErr(await srv.call('file_edit', { path: '/etc/passwd', old_string: 'root', new_string: 'toor' }), 'outside the workspace');
    assertErr(await srv.call('file_edit', { path: 'rootlink/etc/passwd', old_string: 'root', new_string: 'toor' }), 'escapes');
    assertErr(await srv.call('file_edit', { path: 'pwlink', old_string: 'root', new_string: 'toor' }), 'symlink');
    assertErr(await srv.call('file_edit', { path: 'blob.bin', old_string: 'helper', new_string: 'x' }), 'binary');
    assertErr(await srv.call('file_edit', { path: 'src', old_string: 'a', new_string: 'b' }), 'not a regular file');
    assertErr(await srv.call('file_edit', { path: 'fifo.c', old_string: 'a', new_string: 'b' }), 'not a regular file');
    assertErr(await srv.call('file_edit', { path: 'e/none.txt', old_string: 'a', new_string: 'b' }), 'does not exist');
  });

  test('a file over the read cap is refused', async () => {
    const r = await exec(srv, 'shell', 'head -c 9000000 /dev/zero | tr "\\0" a > e/big.txt');
    assert.equal(r.sc.exit_code, 0);
    assertErr(await srv.call('file_edit', { path: 'e/big.txt', old_string: 'a', new_string: 'b' }), 'larger than');
  });
});

describe('grep', () => {
  test('regex over the workspace: sorted, .git, symlinks and binary files skipped', async () => {
    const r = await srv.call('grep', { pattern: 'helper\\(' });
    assertOk(r);
    assert.deepEqual(r.structuredContent.matches.map((m) => `${m.path}:${m.line}:${m.text}`),
      ['src/lib/helper.c:1:int helper(int x)', 'src/lib/helper.h:1:int helper(int x);', 'src/main.c:3:\treturn helper(1);']);
    assert.equal(r.structuredContent.truncated, false);
    assert.match(textOf(r), /^src\/lib\/helper\.c:1:int helper\(int x\)\n/);
    const all = await srv.call('grep', { pattern: 'helper' });
    const files = all.structuredContent.matches.map((m) => m.path);
    assert.ok(!files.some((f) => f.startsWith('.git/')), '.git skipped');
    assert.ok(!files.includes('blob.bin'), 'binary skipped');
    assert.ok(!files.some((f) => f.startsWith('srclink/') || f.startsWith('rootlink/')), 'symlinks not followed');
    assert.ok(all.structuredContent.binary_skipped >= 1);
    assert.ok(files.includes('.hidden.c') && files.includes('node_modules/x/i.c'));
  });

  test('include/exclude globs, ignore_case, fixed_strings, a single file', async () => {
    let r = await srv.call('grep', { pattern: 'helper', include: ['*.h', 'docs/**'] });
    assert.deepEqual(r.structuredContent.matches.map((m) => m.path), ['docs/README.md', 'src/lib/helper.h']);
    r = await srv.call('grep', { pattern: 'helper', exclude: ['node_modules', 'src', '.*'] });
    assert.deepEqual(r.structuredContent.matches.map((m) => m.path), ['docs/README.md']);
    r = await srv.call('grep', { pattern: 'TITLE', ignore_case: true });
    assert.deepEqual(r.structuredContent.matches.map((m) => m.text), ['# Title']);
    r = await srv.call('grep', { pattern: 'x + 1', fixed_strings: true });
    assert.deepEqual(r.structuredContent.matches.map((m) => m.line), [3]);
    r = await srv.call('grep', { pattern: 'X + 1', fixed_strings: true, ignore_case: true });
    assert.deepEqual(r.structuredContent.matches.map((m) => m.line), [3]);
    r = await srv.call('grep', { pattern: '^\treturn', path: 'src/main.c' });
    assert.deepEqual(r.structuredContent.matches.map((m) => [m.path, m.line]), [['src/main.c', 3]]);
  });

  test('regex features around the literal prefilter keep matching', async () => {
    const lines = async (pattern) => (await srv.call('grep', { pattern, path: 'src/lib/helper.c' })).structuredContent.matches.map((m) => m.line);
    assert.deepEqual(await lines('retur?n x'), [3], 'optional character');
    assert.deepEqual(await lines('hel+per\\(int'), [1], 'plus');
    assert.deepEqual(await lines('(int|void) helper'), [1], 'alternation');
    assert.deepEqual(await lines('x \\+ 1'), [3], 'escaped plus');
    assert.deepEqual(await lines('ret{1}urn'), [3], 'bound');
    assert.deepEqual(await lines('\\{'), [2], 'escaped brace');
    assert.deepEqual(await lines('[r]eturn x'), [3], 'bracket');
    assert.deepEqual(await lines('helperX?'), [1], 'optional last character');
    assert.deepEqual(await lines('nothere'), [], 'absent literal');
  });

  test('context lines', async () => {
    const r = await srv.call('grep', { pattern: 'return x', context: 1, path: 'src' });
    assertOk(r);
    const m = r.structuredContent.matches[0];
    assert.deepEqual([m.before, m.line, m.after], [['{'], 3, ['}']]);
    assert.equal(textOf(r), 'src/lib/helper.c-2-{\nsrc/lib/helper.c:3:\treturn x + 1;\nsrc/lib/helper.c-4-}\n');
  });

  test('max_results truncates and says so; no match is not an error', async () => {
    let r = await srv.call('grep', { pattern: 'helper', max_results: 2 });
    assert.equal(r.structuredContent.count, 2);
    assert.equal(r.structuredContent.truncated, true);
    assert.equal(r.structuredContent.reason, 'max_results');
    assert.match(textOf(r), /truncated: first 2 results/);
    r = await srv.call('grep', { pattern: 'zzz_nothing' });
    assertOk(r);
    assert.equal(r.structuredContent.count, 0);
    assert.match(textOf(r), /no matches/);
  });

  test('errors: bad regex, escapes, missing path, bad globs', async () => {
    assertErr(await srv.call('grep', { pattern: 'a(' }), 'regular expression');
    assertErr(await srv.call('grep', { pattern: '((a{1,255}){1,255}){1,255}' }), 'repetition bounds');
    assertOk(await srv.call('grep', { pattern: 'a{1,20}b{2}', path: 'src' }));
    assertErr(await srv.call('grep', { pattern: 'root', path: '../' }), 'escapes the workspace');
    assertErr(await srv.call('grep', { pattern: 'root', path: '/etc' }), 'outside the workspace');
    assertErr(await srv.call('grep', { pattern: 'root', path: 'pwlink' }), 'escapes');
    assertErr(await srv.call('grep', { pattern: 'root', path: 'nope' }), 'does not exist');
    assertErr(await srv.call('grep', { pattern: 'x', include: ['/'] }), 'include');
  });

  test('many files, searched by two threads: GNU grep\'s matches, in path order; max_results keeps the first', async () => {
    // 400 files in 4 directories, match counts varying from 0 to 12 per file, so that
    // files finish out of order; a mix of files without the literal, binary ones and big ones
    const w = await exec(srv, 'python', [
      'import os',
      'for d in range(4):',
      '    os.makedirs(f"many/d{d}", exist_ok=True)',
      '    for f in range(100):',
      '        i = d * 100 + f',
      '        lines = [f"filler {k} of {i}" for k in range(200 + (i * 37) % 3000)]',
      '        for k in range((i * 7) % 10):',
      '            lines[(k * 97 + i) % len(lines)] = f"hit KEY_{i}_{k} here"',
      '        body = "\\n".join(lines) + "\\n"',
      '        if i % 50 == 3: body = "KEY_bin\\0\\n" + body',
      '        open(f"many/d{d}/f{f:03}.txt", "w").write(body)',
    ].join('\n'));
    assert.equal(w.sc.exit_code, 0, textOf(w));
    const g = await exec(srv, 'shell', "grep -rnaE 'KEY_[0-9]+_[0-9]+' many --binary-files=without-match | LC_ALL=C sort -t: -k1,1 -k2,2n");
    const want = g.sc.stdout.trim().split('\n');
    assert.ok(want.length > 1500, `GNU grep found ${want.length}`);
    const r = await srv.call('grep', { pattern: 'KEY_[0-9]+_[0-9]+', path: 'many', max_results: 2000 });
    assertOk(r);
    const got = r.structuredContent.matches.map((m) => `${m.path}:${m.line}:${m.text}`);
    assert.deepEqual(got, want);
    assert.equal(r.structuredContent.files_searched, 400);
    assert.equal(r.structuredContent.binary_skipped, 8);
    for (const max of [1, 37, 500]) {
      const t = await srv.call('grep', { pattern: 'KEY_[0-9]+_[0-9]+', path: 'many', max_results: max });
      assert.deepEqual(t.structuredContent.matches.map((m) => `${m.path}:${m.line}:${m.text}`), want.slice(0, max));
      assert.equal(t.structuredContent.reason, 'max_results');
    }
    const c = await srv.call('grep', { pattern: 'key_1[0-9]_3', path: 'many', ignore_case: true, context: 2 });
    const m = c.structuredContent.matches;
    assert.deepEqual(m.map((x) => `${x.path}:${x.line}:${x.text}`), want.filter((l) => /KEY_1[0-9]_3 /.test(l)));
    assert.ok(m.every((x) => x.before.length === 2 && x.after.length === 2), 'two lines of context each side');
  });

  test('a FIFO as the path does not block; long lines are searched', async () => {
    let r = await srv.call('grep', { pattern: 'x', path: 'fifo.c' });
    assertOk(r);
    assert.equal(r.structuredContent.count, 0);
    const w = await exec(srv, 'shell', 'python3 -c "print(\'a\' * 100000 + \'NEEDLE\' + \'b\' * 100000)" > e/long.txt');
    assert.equal(w.sc.exit_code, 0);
    r = await srv.call('grep', { pattern: 'NEE+DLE', path: 'e' });
    assert.deepEqual(r.structuredContent.matches.map((m) => [m.path, m.line, m.text.length]), [['e/long.txt', 1, 500]]);
  });
});
