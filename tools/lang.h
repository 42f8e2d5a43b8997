/**
 * lang.h — the languages `execute` runs, and how.
 *
 * Each is a program started in the sandbox with the code on fd 3 (never on
 * the command line: no size limit, no quoting) and the call's stdin on fd 0.
 * Interpreted languages read fd 3 themselves; compiled ones (and TypeScript)
 * go through a small bash driver that hashes the code, builds it once into
 * /workspace/.cache/mcpbox/<language>/ (so a second run of the same code
 * skips the compiler, also after a snapshot restore) and runs the result.
 * A compile error is the result: the compiler's messages on stderr and its
 * exit status. Everything runs from the host's Debian packages (make deps),
 * with no network at run time.
 *
 * Static data; any thread.
 */
#ifndef MCPBOX_TOOLS_LANG_H
#define MCPBOX_TOOLS_LANG_H

struct lang {
	const char *name;
	const char *const argv[5];		/* code on fd 3 */
	const char *const handler_argv[5];	/* {"code","event"} on fd 3, result on fd 4; NULL: none */
	/* workspace paths the interpreter reads as it starts (run.h); NULL: none */
	const char *const *(*startup_paths)(void);
};

/** The language called name (or one of its other names, e.g. nodejs), or NULL. */
const struct lang *lang_find(const char *name);

/** Every name lang_find() accepts, as a JSON array text: for the tool's input schema. */
#define LANG_NAMES_JSON \
	"[\"python\",\"javascript\",\"typescript\",\"shell\",\"c\",\"cpp\",\"go\",\"rust\",\"java\",\"ruby\"," \
	"\"nodejs\",\"node\",\"js\",\"ts\",\"python3\",\"py\",\"bash\",\"sh\",\"c++\",\"golang\",\"rs\",\"rb\"]"

/** The canonical names, for messages: "python, javascript, ...". */
#define LANG_LIST "python, javascript (nodejs), typescript, shell, c, cpp, go, rust, java, ruby"

#endif
