/**
 * agent.h — the kernel agent process (see agent.c and proto.h).
 *
 * kern_agent_main() is `mcpbox kernel-agent LANGUAGE`: the server starts it
 * inside a session's sandbox with the channel socket on fd 3 and the binary
 * itself on fd 4. It starts the language's Jupyter kernel, says READY (or
 * FAILED with a reason, and exits), runs the cells the server sends and
 * exits when the kernel dies (after DIED) or the server closes the channel.
 * Nothing else in the program runs in that process; only it creates ZMQ
 * contexts.
 */
#ifndef MCPBOX_KERN_AGENT_H
#define MCPBOX_KERN_AGENT_H

int kern_agent_main(int argc, char **argv);

#endif
