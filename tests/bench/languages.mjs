// execute in each language of the table (tools/lang.c): the first run of new code (compile, then
// run) and a run of code already built (the cache in /workspace/.cache/mcpbox), end to end over stdio.
//
//   node tests/bench/languages.mjs [--bin build/mcpbox] [--n 10]     (standalone; prints markdown)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStdio } from './display.mjs';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const f0 = (x) => x.toFixed(0);

// hello world; %N% makes new code (a new build) each time it changes
const HELLO = {
  c: '#include <stdio.h>\n/* %N% */\nint main(void) { puts("hello"); return 0; }\n',
  cpp: '#include <iostream>\n// %N%\nint main() { std::cout << "hello\\n"; }\n',
  go: 'package main\n// %N%\nimport "fmt"\nfunc main() { fmt.Println("hello") }\n',
  rust: '// %N%\nfn main() { println!("hello"); }\n',
  java: '// %N%\npublic class Hello { public static void main(String[] a) { System.out.println("hello"); } }\n',
  typescript: '// %N%\nconst s: string = "hello";\nconsole.log(s);\n',
  ruby: '# %N%\nputs "hello"\n',
  python: '# %N%\nprint("hello")\n',
};

export async function benchLanguages({ bin, dataDir, n = 10 }) {
  const own = !dataDir;
  dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'mcpbox-bench-lang-'));
  const c = await startStdio(bin, dataDir);
  const rows = [];
  try {
    const sid = (await c.call('session_create', {})).structuredContent.session_id;
    for (const [lang, code] of Object.entries(HELLO)) {
      const cold = [], warm = [];
      for (let i = 0; i < Math.max(3, Math.floor(n / 2)); i++) {
        const [t, r] = await c.timed('execute', { session_id: sid, language: lang, code: code.replace('%N%', `cold ${i} ${Date.now()}`), timeout_s: 120 });
        if (r.structuredContent.stdout !== 'hello\n') throw new Error(`${lang}: ${JSON.stringify(r.structuredContent).slice(0, 300)}`);
        cold.push(t);
      }
      const same = code.replace('%N%', 'warm');
      await c.call('execute', { session_id: sid, language: lang, code: same, timeout_s: 120 });
      for (let i = 0; i < n; i++) warm.push((await c.timed('execute', { session_id: sid, language: lang, code: same, timeout_s: 120 }))[0]);
      rows.push({ lang, cold, warm });
    }
  } finally {
    await c.close();
    if (own) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const lines = [
    '## Languages',
    '',
    `\`execute\` of a hello world over stdio (\`tests/bench/languages.mjs\`), ${os.cpus().length} CPUs: new code each time (compile and run; interpreters just run) against the same code again (compiled languages run the build cached in the workspace). n = ${n} cached runs, ${Math.max(3, Math.floor(n / 2))} new.`,
    '',
    '| language | new code p50 ms | p99 ms | same code again p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.lang} | ${f0(pct(r.cold, 0.5))} | ${f0(pct(r.cold, 0.99))} | ${f0(pct(r.warm, 0.5))} | ${f0(pct(r.warm, 0.99))} |`),
    '',
  ];
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
  process.stdout.write(await benchLanguages({ bin: path.resolve(arg('--bin', 'build/mcpbox')), n: Number(arg('--n', 10)) }) + '\n');
}
