/**
 * agent.h — the display agent process (see agent.c and agent_proto.h).
 *
 * vnc_agent_main() is `mcpbox display-agent WIDTH HEIGHT`: the server starts
 * it inside a session's sandbox with the channel socket on fd 3, the shared
 * buffer on fd 4 and the binary itself on fd 5. It never returns on error
 * (it reports VNC_AGENT_FAILED and exits) and exits when the server closes
 * the channel. Nothing else in the program runs in that process.
 */
#ifndef MCPBOX_VNC_AGENT_H
#define MCPBOX_VNC_AGENT_H

int vnc_agent_main(int argc, char **argv);

#endif
