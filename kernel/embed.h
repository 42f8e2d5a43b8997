/*
 * embed.h — files built into the binary that the kernel agent writes into its
 * private directory (under the sandbox's /tmp) before it starts a kernel:
 * ipykernel tuned for the agent (kernel/kernel_tune.py: the Python kernel's
 * launcher), the wrapper kernel (kernel/wrap_kernel.py, a Jupyter kernel on
 * ipykernel's Kernel class, tuned the same way) and its driver for the
 * language (kernel/node_driver.js for JavaScript, kernel/shell_driver.sh for
 * the shell). Built in with the assembler's .incbin, so mcpbox
 * stays one file to install and the sources stay ordinary files to read and
 * test. Read-only data; any thread.
 */
#ifndef MCPBOX_KERNEL_EMBED_H
#define MCPBOX_KERNEL_EMBED_H

#include <stddef.h>

struct kern_embedded {
	const char *name;		/* its file name in the agent's directory */
	const unsigned char *data;	/* its bytes, up to end */
	const unsigned char *end;
};

/** The Python, JavaScript and shell kernels' files; each ends with a NULL name. */
extern const struct kern_embedded kern_python_files[];
extern const struct kern_embedded kern_node_files[];
extern const struct kern_embedded kern_shell_files[];

#endif
