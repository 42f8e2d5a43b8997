/*
 * lang.c — the language table of execute (see lang.h).
 */
#include "lang.h"
#include "../server/base/common.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/base/banned.h"

#define PY_RUN "import sys;sys.argv=['<code>'];__f=open(3,encoding='utf-8');__c=__f.read();__f.close();" \
	       "del __f;exec(compile(__c,'<code>','exec'))"
#define PY_HANDLER \
	"import json,sys\n" \
	"with open(3,encoding='utf-8') as f: d=json.load(f)\n" \
	"g={'__name__':'handler','__builtins__':__builtins__}\n" \
	"exec(compile(d['code'],'<code>','exec'),g)\n" \
	"h=g.get('handler')\n" \
	"if not callable(h):\n" \
	"    sys.stderr.write('mcpbox: the code defines no function handler(event)\\n'); sys.exit(1)\n" \
	"c=getattr(h,'__code__',None)\n" \
	"r=h(d['event'],{}) if c and c.co_argcount-len(h.__defaults__ or ())>=2 else h(d['event'])\n" \
	"if hasattr(r,'__await__'):\n" \
	"    import asyncio\n" \
	"    async def _w(): return await r\n" \
	"    r=asyncio.run(_w())\n" \
	"sys.stdout.flush()\n" \
	"with open(4,'w',encoding='utf-8') as f: json.dump(r,f,default=str)\n"
#define JS_LOAD "const M=require('module'),fs=require('fs');const F='/workspace/[code].js';" \
		"const m=new M(F,null);m.filename=F;m.paths=M._nodeModulePaths('/workspace');"
#define JS_RUN JS_LOAD "m._compile(fs.readFileSync(3,'utf8'),F);"
#define JS_HANDLER JS_LOAD \
	"const d=JSON.parse(fs.readFileSync(3,'utf8'));" \
	"m._compile(d.code+'\\n;module.__h=typeof handler===\\'function\\'?handler:undefined;',F);" \
	"const e=m.exports;const h=typeof e==='function'?e:e&&typeof e.handler==='function'?e.handler:m.__h;" \
	"if(typeof h!=='function'){process.stderr.write('mcpbox: the code defines no handler(event)\\n');process.exit(1);}" \
	"Promise.resolve().then(()=>h(d.event,{})).then(r=>{fs.writeFileSync(4,JSON.stringify(r===undefined?null:r));}," \
	"err=>{console.error(err&&err.stack||String(err));process.exitCode=1;});"

/* Python's start-up adds the user site-packages (HOME is /workspace) to
 * sys.path if that directory exists then, and runs the .pth files in it: a
 * program started ahead must not miss a `pip install --user` done since. */
static const char *const *python_startup_paths(void)
{
	static char lib[64], site[96], pth[112], custom[128];
	static const char *paths[7];
	char real[PATH_MAX];
	const char *base;

	if (paths[0])
		return paths;
	/* the host's python3 names its version: /usr/bin/python3 -> python3.11 */
	base = realpath("/usr/bin/python3", real) ? strrchr(real, '/') + 1 : "python3";
	snprintf(lib, sizeof(lib), ".local/lib/%.40s", base);
	snprintf(site, sizeof(site), "%s/site-packages", lib);
	snprintf(pth, sizeof(pth), "%s/*.pth", site);		/* each one's contents too */
	snprintf(custom, sizeof(custom), "%s/usercustomize.py", site);
	paths[1] = ".local/lib";
	paths[2] = lib;
	paths[3] = site;
	paths[4] = pth;
	paths[5] = custom;
	paths[0] = ".local"; /* last: the table is complete once this is set */
	return paths;
}

/*
 * The compiled languages' driver (bash, $0 names the language): the code
 * from fd 3 into a temporary file, its hash names the build directory; on a
 * miss the compiler runs in a fresh directory (its messages name main.c,
 * not a cache path) which is then renamed into place whole, so concurrent
 * runs of the same code never see half a build; the newest 64 builds per
 * language are kept. BUILD is the compile command (in the build directory,
 * its output to stderr), RUN the program ($D: the build directory).
 */
#define DRIVER(lang, src, prepare, build, run)                                                          \
	"d=/workspace/.cache/mcpbox/" lang "\n"                                                           \
	"mkdir -p \"$d\" && t=$(mktemp \"$d/.src.XXXXXX\") || exit 125\n"                                \
	"cat <&3 >\"$t\"; exec 3<&-\n"                                                                    \
	"h=$(sha256sum <\"$t\"); h=${h:0:32}; D=\"$d/$h\"\n"                                            \
	prepare                                                                                           \
	"if [ ! -e \"$D/.ok\" ]; then\n"                                                                  \
	"  b=\"$d/.build.$$\"; rm -rf \"$b\"; mkdir \"$b\" && mv \"$t\" \"$b/" src "\" || exit 125\n"    \
	"  ( cd \"$b\" && " build " ) >&2 || { s=$?; rm -rf \"$b\"; exit $s; }\n"                       \
	"  touch \"$b/.ok\"; mv -T \"$b\" \"$D\" 2>/dev/null || rm -rf \"$b\"\n"                         \
	"  ls -1t \"$d\" | tail -n +65 | while read -r o; do rm -rf \"$d/$o\"; done\n"                    \
	"else rm -f \"$t\"; fi\n"                                                                         \
	"exec " run "\n"

#define C_DRIVER DRIVER("c", "main.c", "", "gcc -std=gnu17 -O1 -pipe -o main main.c -lm", "\"$D/main\"")
#define CPP_DRIVER DRIVER("cpp", "main.cpp", "", "g++ -std=gnu++17 -O1 -pipe -o main main.cpp", "\"$D/main\"")
#define GO_DRIVER                                                                                   \
	DRIVER("go", "main.go",                                                                     \
	       "export GOCACHE=/workspace/.cache/go-build GOPATH=/workspace/.cache/go GO111MODULE=off " \
	       "GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=0\n",                                       \
	       "go build -o main main.go", "\"$D/main\"")
#define RUST_DRIVER \
	DRIVER("rust", "main.rs", "", "rustc --edition 2021 -C opt-level=1 -C debuginfo=0 -o main main.rs", "\"$D/main\"")
/* Java: the file is named after its public class (else the first class), which is run. The JVM sizes
   itself from the host's memory unless told: under an address-space limit (no memory cgroup) it
   is told, and its fixed reservations are made small. */
#define JAVA_DRIVER                                                                                          \
	DRIVER("java", "main.java",                                                                          \
	       "J='-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto'\n"                                \
	       "v=$(ulimit -v); [ \"$v\" = unlimited ] || J=\"$J -XX:MaxRAM=$((v * 1024)) "                 \
	       "-XX:MaxRAMPercentage=40 -XX:CompressedClassSpaceSize=48m -XX:ReservedCodeCacheSize=32m -Xss1m\"\n", \
	       "c=$(sed -n 's/^[[:space:]]*public[[:space:]][[:space:]a-z]*class[[:space:]]\\+\\([A-Za-z_$][A-Za-z0-9_$]*\\).*/\\1/p' main.java | head -n1); " \
	       "[ -n \"$c\" ] || c=$(sed -n 's/^[[:space:]]*\\([a-z]*[[:space:]]\\+\\)*class[[:space:]]\\+\\([A-Za-z_$][A-Za-z0-9_$]*\\).*/\\2/p' main.java | head -n1); " \
	       "[ -n \"$c\" ] || { echo 'mcpbox: no class in the code' >&2; exit 1; }; "                   \
	       "mv main.java \"$c.java\" && printf %s \"$c\" > .main && javac $(printf -- '-J%s ' $J) -d . \"$c.java\"", \
	       "java $J -cp \"$D\" \"$(cat \"$D/.main\")\"")
/* TypeScript: transpiled (types are not checked: Debian has no @types/node, and checking costs
   seconds), syntax errors reported in tsc's form; then node runs it (require() finds
   /workspace/node_modules from there). */
#define TS_TRANSPILE                                                                                       \
	"const ts=require('/usr/share/nodejs/typescript'),fs=require('fs');"                                \
	"const r=ts.transpileModule(fs.readFileSync('main.ts','utf8'),{reportDiagnostics:true,fileName:'main.ts'," \
	"compilerOptions:{target:ts.ScriptTarget.ES2020,module:ts.ModuleKind.CommonJS,esModuleInterop:true}});" \
	"for(const d of r.diagnostics){const p=d.file&&d.start!==undefined?d.file.getLineAndCharacterOfPosition(d.start):null;" \
	"console.error((p?'main.ts('+(p.line+1)+','+(p.character+1)+'): ':'')+'error TS'+d.code+': '+"   \
	"ts.flattenDiagnosticMessageText(d.messageText,'\\n'));}"                                          \
	"if(r.diagnostics.length)process.exit(2);fs.writeFileSync('main.js',r.outputText);"
#define TS_DRIVER DRIVER("typescript", "main.ts", "", "node -e \"" TS_TRANSPILE "\"", "node \"$D/main.js\"")

static const struct lang langs[] = {
	{ "python", { "/usr/bin/python3", "-c", PY_RUN, NULL }, { "/usr/bin/python3", "-c", PY_HANDLER, NULL },
	  python_startup_paths },
	{ "javascript", { "/usr/bin/node", "-e", JS_RUN, NULL }, { "/usr/bin/node", "-e", JS_HANDLER, NULL }, NULL },
	{ "shell", { "/bin/bash", "/dev/fd/3", NULL }, { NULL }, NULL },
	{ "typescript", { "/bin/bash", "-c", TS_DRIVER, "mcpbox-typescript", NULL }, { NULL }, NULL },
	{ "c", { "/bin/bash", "-c", C_DRIVER, "mcpbox-c", NULL }, { NULL }, NULL },
	{ "cpp", { "/bin/bash", "-c", CPP_DRIVER, "mcpbox-cpp", NULL }, { NULL }, NULL },
	{ "go", { "/bin/bash", "-c", GO_DRIVER, "mcpbox-go", NULL }, { NULL }, NULL },
	{ "rust", { "/bin/bash", "-c", RUST_DRIVER, "mcpbox-rust", NULL }, { NULL }, NULL },
	{ "java", { "/bin/bash", "-c", JAVA_DRIVER, "mcpbox-java", NULL }, { NULL }, NULL },
	{ "ruby", { "/usr/bin/ruby", "/dev/fd/3", NULL }, { NULL }, NULL },
};

static const struct {
	const char *alias, *name;
} aliases[] = {
	{ "nodejs", "javascript" }, { "node", "javascript" }, { "js", "javascript" }, { "ts", "typescript" },
	{ "python3", "python" }, { "py", "python" }, { "bash", "shell" }, { "sh", "shell" },
	{ "c++", "cpp" }, { "golang", "go" }, { "rs", "rust" }, { "rb", "ruby" },
};

const struct lang *lang_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
		if (!strcmp(aliases[i].alias, name))
			name = aliases[i].name;
	for (size_t i = 0; i < ARRAY_SIZE(langs); i++)
		if (!strcmp(langs[i].name, name))
			return &langs[i];
	return NULL;
}
