#!/bin/sh
# `make run`: mcpbox speaks MCP over stdio; print how to connect a client.
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cat <<EOT
mcpbox is built: $bin

Over stdio (the client starts the binary itself):

  Cursor (.cursor/mcp.json) or Claude Desktop (claude_desktop_config.json):
    {"mcpServers": {"mcpbox": {"command": "$bin", "args": ["stdio"]}}}

  Claude Code:
    claude mcp add mcpbox -- $bin stdio

  Try it by hand (one JSON-RPC message per line):
    $bin stdio --data ./data

  Or with the MCP Inspector:
    npx @modelcontextprotocol/inspector --cli $bin stdio --method tools/list

Over the network: starting \`mcpbox serve --data ./data\` now (Ctrl-C stops it).
  Cursor: {"mcpServers": {"mcpbox": {"url": "http://127.0.0.1:8080/mcp",
                                     "headers": {"Authorization": "Bearer KEY"}}}}
  KEY is printed below on the first start only; more: $bin key create --name NAME --data ./data

EOT
