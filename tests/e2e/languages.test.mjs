// execute in every language of the table (tools/lang.c): hello world, the exit code, stdin, a
// compile error as the result, and the compile cache in the workspace, through the SDK client.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClient, textOf } from './helpers.mjs';

// each reads one line of stdin, prints it and a greeting, and exits with 3
const PROGRAMS = {
  c: '#include <stdio.h>\nint main(void) { char b[64]; if (fgets(b, sizeof b, stdin)) printf("got %s", b); puts("hello"); return 3; }\n',
  cpp: '#include <iostream>\n#include <string>\nint main() { std::string s; std::getline(std::cin, s); std::cout << "got " << s << "\\nhello\\n"; return 3; }\n',
  go: 'package main\nimport ("bufio"; "fmt"; "os")\nfunc main() { s, _ := bufio.NewReader(os.Stdin).ReadString(10); fmt.Print("got ", s); fmt.Println("hello"); os.Exit(3) }\n',
  rust: 'use std::io::BufRead;\nfn main() { let mut s = String::new(); std::io::stdin().lock().read_line(&mut s).unwrap(); print!("got {}", s); println!("hello"); std::process::exit(3); }\n',
  java: 'import java.util.Scanner;\npublic class Hello {\n  public static void main(String[] a) { System.out.println("got " + new Scanner(System.in).nextLine()); System.out.println("hello"); System.exit(3); }\n}\n',
  ruby: 'print "got ", STDIN.gets; puts "hello"; exit 3\n',
  typescript: 'const s: string = require("fs").readFileSync(0, "utf8").split("\\n")[0];\nconst greet = (n: string): string => `got ${n}\\nhello`;\nconsole.log(greet(s));\nprocess.exit(3);\n',
  nodejs: 'const s = require("fs").readFileSync(0, "utf8").split("\\n")[0]; console.log(`got ${s}\\nhello`); process.exitCode = 3;\n',
};
const BROKEN = {
  c: ['int main( { return 0; }\n', /main\.c:1:\d+: error/],
  cpp: ['int main() { return }\n', /main\.cpp:1:\d+: error/],
  go: ['package main\nfunc main() { x := }\n', /main\.go:2:\d+: syntax error/],
  rust: ['fn main() { let x = ; }\n', /error: expected expression[\s\S]*main\.rs:1/],
  java: ['public class A { void f( }\n', /A\.java:1: error/],
  ruby: ['def f(\n', /syntax error/],
  typescript: ['let x: = ;\n', /main\.ts\(1,8\): error TS1110: Type expected/],
};
const COMPILED = ['c', 'cpp', 'go', 'rust', 'java', 'typescript'];

describe('languages', () => {
  let srv, sid;
  const run = async (language, code, extra = {}) => {
    const r = await srv.call('execute', { session_id: sid, language, code, timeout_s: 120, ...extra }, { timeout: 180000 });
    assert.ok(r.structuredContent, `${language}: ${textOf(r)}`);
    return r;
  };
  before(async () => {
    srv = await startClient();
    sid = (await srv.call('session_create', {})).structuredContent.session_id;
  });
  after(async () => { await srv?.close(); });

  for (const [language, code] of Object.entries(PROGRAMS)) {
    test(`${language}: stdout, stdin and the exit code`, { timeout: 240000 }, async () => {
      const r = await run(language, code, { stdin: 'a line\n' });
      assert.equal(r.structuredContent.stdout, 'got a line\nhello\n', `${language}: ${textOf(r)}`);
      assert.equal(r.structuredContent.exit_code, 3);
      assert.equal(r.isError, true, 'a non-zero exit is an error result');
      if (COMPILED.includes(language)) {
        const again = await run(language, code, { stdin: 'another\n' });
        assert.equal(again.structuredContent.stdout, 'got another\nhello\n');
        const builds = await run('shell', `ls /workspace/.cache/mcpbox/${language} | wc -l`);
        assert.equal(builds.structuredContent.stdout.trim(), '1', 'the second run used the first build');
        assert.ok(again.structuredContent.duration_ms < r.structuredContent.duration_ms,
          `cached: ${again.structuredContent.duration_ms} ms after ${r.structuredContent.duration_ms} ms`);
      }
    });
  }

  for (const [language, [code, expect]] of Object.entries(BROKEN)) {
    test(`${language}: a compile error is the result`, { timeout: 240000 }, async () => {
      const r = await run(language, code);
      assert.equal(r.isError, true);
      assert.notEqual(r.structuredContent.exit_code, 0);
      assert.equal(r.structuredContent.stdout, '');
      assert.match(r.structuredContent.stderr, expect);
      assert.doesNotMatch(r.structuredContent.stderr, /\.cache\/mcpbox/, 'messages name the file, not the cache path');
    });
  }

  test('other names: nodejs, js, ts, c++, golang, py, sh; an unknown language lists the known ones', async () => {
    for (const [name, code] of [['js', 'console.log(1)'], ['ts', 'console.log(1 as number)'], ['c++', '#include <cstdio>\nint main(){std::puts("1");}'],
      ['golang', 'package main\nimport "fmt"\nfunc main(){fmt.Println(1)}'], ['py', 'print(1)'], ['sh', 'echo 1'], ['rb', 'puts 1'], ['rs', 'fn main(){println!("1");}']]) {
      const r = await run(name, code);
      assert.equal(r.structuredContent.stdout, '1\n', `${name}: ${textOf(r)}`);
    }
    const r = await srv.call('execute', { session_id: sid, language: 'cobol', code: 'x' });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /"language" must be one of "python", "javascript", "typescript", "shell", "c", "cpp", "go", "rust", "java", "ruby", "nodejs"/);
  });
});
