/**
 * kernel_tools.h — execute {kernel: true}: run the call's code as a cell of
 * the session's stateful kernel (kernel_tools.c). Loop thread only.
 */
#ifndef MCPBOX_TOOL_KERNEL_TOOLS_H
#define MCPBOX_TOOL_KERNEL_TOOLS_H

#include <stdint.h>

struct tool_call;

/** Run execute's validated call in a kernel; finishes the call exactly once. */
void tool_kernel_execute(struct tool_call *call);

struct sess_registry;
/** Start kernels ahead in reg's warm-pool sandboxes (kern_pool_start; config pool_kernels); one its
 * session leaves unused idle_ms after the take stops (config pool_kernel_idle). */
void tool_kernel_pool_init(struct sess_registry *reg, uint64_t idle_ms);

#endif
