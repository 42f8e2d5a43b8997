// kernel/node_driver.js — the Node.js side of mcpbox's JavaScript kernel
// (kernel/wrap_kernel.py starts it; both run inside the session's sandbox).
//
// Cells arrive as JSON lines on the fd named by argv[2]: {"code": "..."}.
// Each runs as a script in this process's own global context, so `var`,
// `let`, `const`, `function` and `class` declarations, required modules and
// open handles persist from one cell to the next. What a cell prints goes to
// stdout/stderr (pipes the kernel forwards as Jupyter stream messages); its
// events go as JSON lines to the fd named by argv[3]:
//   {"type":"display","data":{MIME: text|base64}}   display() and friends
//   {"type":"result","data":{MIME: ...}}            the cell's last value
//   {"type":"done","ok":true} | {"type":"done","ok":false,"ename","evalue","traceback":[...]}
// A cell whose last value is a promise is awaited. A cell may use top-level
// `await` as in Node's REPL: its declarations persist, its last expression is
// its value.
// SIGINT interrupts the running cell (a loop through vm's breakOnSigint, an
// awaited promise by rejecting the wait) and keeps the process.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');
const vm = require('vm');
const Module = require('module');

const cmdFd = Number(process.argv[2]);
const evFd = Number(process.argv[3]);
let cellNo = 0;
let interruptWait = null;	// rejects the promise a cell is awaiting, on SIGINT

function emit(msg) {
	const line = JSON.stringify(msg) + '\n';
	let off = 0;
	const buf = Buffer.from(line);
	while (off < buf.length)
		off += fs.writeSync(evFd, buf, off);
}

function asBase64(v) {
	if (Buffer.isBuffer(v) || v instanceof Uint8Array)
		return Buffer.from(v).toString('base64');
	return String(v);
}

// a value as Node's REPL shows it (strings quoted)
function inspect(v) {
	return util.inspect(v, { depth: 4, colors: false, maxArrayLength: 200 });
}

// what display() and messages show: text as it is, anything else inspected
function plain(v) {
	return typeof v === 'string' ? v : inspect(v);
}

// display(value) shows a value as text; display.html/svg/markdown/json/png/jpeg
// show rich output (png/jpeg take a Buffer or base64 text).
function display(value) {
	emit({ type: 'display', data: { 'text/plain': plain(value) } });
}
display.html = (s) => emit({ type: 'display', data: { 'text/html': String(s), 'text/plain': '[HTML]' } });
display.svg = (s) => emit({ type: 'display', data: { 'image/svg+xml': String(s), 'text/plain': '[SVG]' } });
display.markdown = (s) => emit({ type: 'display', data: { 'text/markdown': String(s), 'text/plain': String(s) } });
display.json = (o) => emit({ type: 'display', data: { 'application/json': o, 'text/plain': plain(o) } });
display.png = (b) => emit({ type: 'display', data: { 'image/png': asBase64(b), 'text/plain': '[PNG image]' } });
display.jpeg = (b) => emit({ type: 'display', data: { 'image/jpeg': asBase64(b), 'text/plain': '[JPEG image]' } });

// require() as a script in /workspace would have it: ./x and node_modules there first
const cellRequire = Module.createRequire(path.join(process.cwd(), '[cell]'));
Object.assign(globalThis, {
	display, require: cellRequire, module: { exports: {} },
	__dirname: process.cwd(), __filename: path.join(process.cwd(), '[cell]'),
});

function failure(e) {
	if (e instanceof Error || (e && typeof e === 'object' && 'message' in e)) {
		const stack = typeof e.stack === 'string' ? e.stack : `${e.name}: ${e.message}`;
		return { ename: String(e.name || 'Error'), evalue: String(e.message), traceback: cellStack(stack.split('\n')) };
	}
	return { ename: 'Uncaught', evalue: plain(e), traceback: [`Uncaught ${plain(e)}`] };
}

function awaitInterruptibly(p) {
	return new Promise((resolve, reject) => {
		interruptWait = () => reject(Object.assign(new Error('Interrupted'), { name: 'KeyboardInterrupt' }));
		Promise.resolve(p).then(resolve, reject);
	}).finally(() => { interruptWait = null; });
}

// Node's REPL rewrite for top-level await (node --expose-internals): declarations
// become the script's own, the last expression its value. Without it a cell with
// await runs as an async function's body.
let rewriteAwait = null;
try {
	rewriteAwait = require('internal/repl/await').processTopLevelAwait;
} catch (e) {
	rewriteAwait = null;
}

function compile(code, filename) {
	try {
		return { script: new vm.Script(code, { filename }) };
	} catch (e) {
		if (!(e instanceof SyntaxError) || !/await is only valid/.test(e.message))
			throw e;
		const rewritten = rewriteAwait && rewriteAwait(code);
		if (rewritten)
			return { script: new vm.Script(rewritten, { filename }), boxed: true };
		return { script: new vm.Script(`(async () => {\n${code}\n})()`, { filename, lineOffset: -1 }) };
	}
}

// the cell's frames of a stack, not the driver's
function cellStack(lines) {
	const cut = lines.findIndex((l) => /^\s+at .*(node:vm|node_driver\.js|node:internal)/.test(l));
	return cut > 0 ? lines.slice(0, cut) : lines;
}

async function run(code) {
	const filename = `cell${++cellNo}.js`;
	try {
		const cell = compile(code, filename);
		let value = cell.script.runInThisContext({ breakOnSigint: true, displayErrors: false });
		if (value && typeof value.then === 'function')
			value = await awaitInterruptibly(value);
		if (cell.boxed)
			value = value && value.value;
		if (value !== undefined)
			emit({ type: 'result', data: { 'text/plain': inspect(value) } });
		emit({ type: 'done', ok: true });
	} catch (e) {
		if (e && e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED')
			e.name = 'KeyboardInterrupt';
		emit({ type: 'done', ok: false, ...failure(e) });
	}
}

// an idle process ignores SIGINT; a cell awaiting a promise stops waiting
process.on('SIGINT', () => { if (interruptWait) interruptWait(); });
// a rejection nobody awaited (a timer's callback that threw, say) is reported, not fatal
process.on('unhandledRejection', (e) => process.stderr.write(`Unhandled rejection: ${failure(e).traceback.join('\n')}\n`));
process.on('uncaughtException', (e) => process.stderr.write(`Uncaught exception: ${failure(e).traceback.join('\n')}\n`));

const cells = readline.createInterface({ input: fs.createReadStream(null, { fd: cmdFd }), crlfDelay: Infinity });
let queue = Promise.resolve();
cells.on('line', (line) => {
	let code;
	try {
		code = JSON.parse(line).code;
	} catch (e) {
		emit({ type: 'done', ok: false, ename: 'ProtocolError', evalue: 'a cell must be a JSON line', traceback: [] });
		return;
	}
	queue = queue.then(() => run(String(code)));
});
cells.on('close', () => process.exit(0));
