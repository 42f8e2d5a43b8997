#!/bin/sh
# `make run`: mcpbox speaks MCP over stdio; print how to connect a client.
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cat <<EOT
mcpbox is built: $bin

It speaks MCP over stdin/stdout. Point your MCP client at it:

  Cursor (.cursor/mcp.json) or Claude Desktop (claude_desktop_config.json):
    {"mcpServers": {"mcpbox": {"command": "$bin", "args": ["stdio"]}}}

  Claude Code:
    claude mcp add mcpbox -- $bin stdio

  Try it by hand (one JSON-RPC message per line):
    $bin stdio --data ./data

  Or with the MCP Inspector:
    npx @modelcontextprotocol/inspector --cli $bin stdio --method tools/list
EOT
