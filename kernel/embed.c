/*
 * embed.c — the files of embed.h, included at build time (the Makefile makes
 * this object depend on them).
 */
#include "embed.h"

/* SYM[] holds FILE's bytes, SYM_end marks their end (a NUL follows, unused) */
#define EMBED(sym, file)                                                              \
	__asm__(".pushsection .rodata\n"                                               \
		".balign 16\n"                                                       \
		".hidden " #sym "\n.globl " #sym "\n" #sym ":\n"                        \
		".incbin \"" file "\"\n"                                              \
		".hidden " #sym "_end\n.globl " #sym "_end\n" #sym "_end:\n"            \
		".byte 0\n"                                                          \
		".popsection\n");                                                    \
	extern const unsigned char sym[], sym##_end[]

EMBED(kern_kernel_tune_py, "kernel/kernel_tune.py");
EMBED(kern_wrap_kernel_py, "kernel/wrap_kernel.py");
EMBED(kern_node_driver_js, "kernel/node_driver.js");
EMBED(kern_shell_driver_sh, "kernel/shell_driver.sh");

#define TUNE { "kernel_tune.py", kern_kernel_tune_py, kern_kernel_tune_py_end }

const struct kern_embedded kern_python_files[] = {
	TUNE,
	{ NULL, NULL, NULL },
};

const struct kern_embedded kern_node_files[] = {
	TUNE,
	{ "wrap_kernel.py", kern_wrap_kernel_py, kern_wrap_kernel_py_end },
	{ "node_driver.js", kern_node_driver_js, kern_node_driver_js_end },
	{ NULL, NULL, NULL },
};

const struct kern_embedded kern_shell_files[] = {
	TUNE,
	{ "wrap_kernel.py", kern_wrap_kernel_py, kern_wrap_kernel_py_end },
	{ "shell_driver.sh", kern_shell_driver_sh, kern_shell_driver_sh_end },
	{ NULL, NULL, NULL },
};
