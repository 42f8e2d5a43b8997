// What reaches the caller of `screenshot` through two MCP client libraries other than the official
// SDK's Client: the Vercel AI SDK (@ai-sdk/mcp, its own MCP implementation) and Mastra (@mastra/mcp).
// Usage (Node 22): node image.mjs BIN DATA_DIR → one JSON line per client:
//   {"client":..., "image": {"mimeType":..., "bytes":N} | null, "text": "...", "error"?: "..."}
import { createMCPClient } from '@ai-sdk/mcp';
import { Experimental_StdioMCPTransport } from '@ai-sdk/mcp/mcp-stdio';
import { MCPClient } from '@mastra/mcp';

const [bin, data] = process.argv.slice(2);
const ARGS = { max_width: 64 };

// Find an image and the texts anywhere in what a client hands on (model output parts, content blocks...).
function inspect(value) {
  const found = { image: null, text: [] };
  const walk = (v) => {
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) { v.forEach(walk); return; }
    // {data, mimeType} (MCP), {type:"file", mediaType, data:{type:"data", data}} (AI SDK model output)
    const data = typeof v.data === 'string' ? v.data : typeof v.data?.data === 'string' ? v.data.data : v.base64;
    const mime = v.mimeType ?? v.mediaType;
    if (typeof data === 'string' && typeof mime === 'string' && mime.startsWith('image/') && !found.image)
      found.image = { mimeType: mime, bytes: Buffer.from(data, 'base64').length };
    if (typeof v.text === 'string') found.text.push(v.text);
    Object.values(v).forEach(walk);
  };
  walk(value);
  return { image: found.image, text: found.text.join('\n') };
}

async function aiSdk() {
  const client = await createMCPClient({
    transport: new Experimental_StdioMCPTransport({ command: bin, args: ['stdio', '--data', data, '-q'] }),
  });
  try {
    const tools = await client.tools();
    const out = await tools.screenshot.execute(ARGS, { toolCallId: 'c1', messages: [] });
    // what the AI SDK gives the model for this result
    const modelOutput = tools.screenshot.toModelOutput
      ? await tools.screenshot.toModelOutput({ toolCallId: 'c1', input: ARGS, output: out })
      : out;
    return inspect(modelOutput);
  } finally {
    await client.close();
  }
}

async function mastra() {
  const mcp = new MCPClient({ id: `image-${process.pid}`, servers: { box: { command: bin, args: ['stdio', '--data', data, '-q'] } } });
  try {
    const tools = await mcp.listTools();
    const out = await tools.box_screenshot.execute(ARGS, {});
    return inspect(out);
  } finally {
    await mcp.disconnect();
  }
}

for (const [name, fn] of [['ai-sdk', aiSdk], ['mastra', mastra]]) {
  try {
    console.log(JSON.stringify({ client: name, ...(await fn()) }));
  } catch (e) {
    console.log(JSON.stringify({ client: name, image: null, text: '', error: String(e?.stack || e) }));
  }
}
process.exit(0);
