#!/bin/sh
# `make run`: print how to connect a client. run-hint.sh BIN LISTEN DATA
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
listen=${2:-127.0.0.1:8080}
data=${3:-./data}
cat <<EOT
mcpbox is built: $bin

Over stdio (the client starts the binary itself):

  Cursor (.cursor/mcp.json) or Claude Desktop (claude_desktop_config.json):
    {"mcpServers": {"mcpbox": {"command": "$bin", "args": ["stdio"]}}}

  Claude Code:
    claude mcp add mcpbox -- $bin stdio

  Try it by hand (one JSON-RPC message per line):
    $bin stdio

  Or with the MCP Inspector (-q keeps mcpbox's log out of its output):
    npx @modelcontextprotocol/inspector --cli $bin stdio -q --method tools/list

Over the network: starting \`mcpbox serve --listen $listen --data $data\` now (Ctrl-C stops it).
  Cursor: {"mcpServers": {"mcpbox": {"url": "http://$listen/mcp",
                                     "headers": {"Authorization": "Bearer KEY"}}}}
  Claude Desktop (remote): {"mcpServers": {"mcpbox": {"command": "npx",
      "args": ["mcp-remote", "http://$listen/mcp", "--header", "Authorization: Bearer KEY"]}}}
  KEY is printed below on the first start only; more: $bin key create --name NAME --data $data

EOT
