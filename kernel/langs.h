/**
 * langs.h — the languages with a kernel, in one list that everything else
 * is made from: kernel.c's names (what `execute {kernel: true}` accepts),
 * the tool schema's enum and the error text (KERN_LANGS_JSON, KERN_LANGS),
 * and agent.c's table of how each kernel starts.
 *
 * KERN_LANG_LIST(X, SEP) expands X(name, id) for each language with SEP
 * between them: name is the language as clients write it, id names agent.c's
 * id##_argv (the kernel's command line) and embed.h's kern_##id##_files (the
 * files written beside it). A new language is a row here plus those two.
 */
#ifndef MCPBOX_KERN_LANGS_H
#define MCPBOX_KERN_LANGS_H

#define KERN_LANG_LIST(X, SEP) \
	X("python", python) SEP \
	X("javascript", node) SEP \
	X("shell", shell)

/** A SEP for lists in initializers. */
#define KERN_LANG_COMMA ,

#define KERN_LANG_NAME(name, id) name
#define KERN_LANG_JSON_NAME(name, id) "\"" name "\""

/** The languages as a JSON enum and as text. */
#define KERN_LANGS_JSON "[" KERN_LANG_LIST(KERN_LANG_JSON_NAME, ",") "]"
#define KERN_LANGS KERN_LANG_LIST(KERN_LANG_NAME, ", ")

#endif
