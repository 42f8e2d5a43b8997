"""kernel/kernel_tune.py: ipykernel tuned for mcpbox's kernel agent, its only client.

Run as the Python kernel (python3 kernel_tune.py -f CONNECTION_FILE ...: the
agent's launcher) and imported by kernel/wrap_kernel.py (the JavaScript and
shell kernels), both written by the agent (kernel/embed.c) into its
directory in the sandbox. apply() changes, each measured on a `1+1` cell
(2 CPUs, a bare pyzmq client, the kernel's CPU time per cell: 2.7 ms before,
1.4 ms after) and each skipped when the ipykernel/IPython at hand lacks what
it replaces:
- OutStream.flush() (six per cell: before the reply, in the display hook, at
  the end of each shell message) hands a flush and an event to the IOPub
  thread and waits for it even when nothing was written since the last one;
  here it returns at once then. Writes are counted once their text is in the
  buffer, and a flush counts as done once its text was handed to the IOPub
  thread, whose queue keeps every message in order, so nothing can overtake
  output.
- IOPub messages go out on the thread that makes them, under one lock,
  instead of each being queued for the IOPub thread and that thread woken
  through an inproc socket (two GIL hand-overs per message). The same lock
  covers a stream's flush from taking its text to sending it, so output
  flushed by the IOPub thread's timer cannot pass a later message of the
  cell's thread. Forked children still send through the master's pipe.
- The execute reply goes straight out on the shell socket (non-blocking)
  when nothing is queued before it, not on the event loop's next turn.
- A cell is transformed (magics, `!cmd`, prefilters) once, not twice:
  ipykernel's do_execute transforms it to choose a runner, then IPython's
  run_cell transforms the same text again. The first result is kept for the
  second call of the same request only.
- The agent is the kernel's only client: no `busy` status and no
  `execute_input` echo (two of a cell's four IOPub messages, each a hop to
  the IOPub thread); `idle` still ends every request.
- The agent never uses the control channel: no wake-up of the control thread
  (and back) before each shell message to order control messages before it.
- Whether do_execute takes a cell_id is asked once per method, not through
  inspect.signature() twice a cell; message headers keep their dates as text
  (dateutil parsed the date of every request, nothing reads it).
- IPython's formatters (eleven per result) are called without the
  `decorator` package's wrapper, which binds every call's arguments to the
  signature; the same catch_format_error runs around each.
- The app's logger drops debug records before they are built.
The agent also starts kernels with `--Kernel._execute_sleep=0`: ipykernel
sleeps 0.5 ms (1 ms here) before each execute_reply as a workaround for
clients that take the reply as the end of the output; the agent waits for
the iopub idle instead.
"""
import functools
import logging
import threading

import zmq
from ipykernel import iostream, ipkernel, kernelapp, kernelbase
from IPython.core import formatters, interactiveshell
from jupyter_client import session


def apply():
    S = iostream.OutStream
    if all(hasattr(S, a) for a in ('write', 'flush', '_flush')):
        write, flush_now, flush_wait = S.write, S._flush, S.flush
        def w(self, s):
            n = write(self, s)
            self._mcpbox_w = getattr(self, '_mcpbox_w', 0) + 1
            return n
        def f_now(self):
            n = getattr(self, '_mcpbox_w', 0)
            flush_now(self)
            self._mcpbox_f = n
        def f_wait(self):
            if getattr(self, 'echo', None) is None and getattr(self, '_mcpbox_w', 0) == getattr(self, '_mcpbox_f', 0):
                return
            flush_wait(self)
        S.write, S._flush, S.flush = w, f_now, f_wait
    T = iostream.IOPubThread
    if all(hasattr(T, a) for a in ('send_multipart', '_is_master_process', 'closed')) and hasattr(S, '_flush'):
        lock = threading.RLock()
        send_queued = T.send_multipart
        def send_now(self, msg, *args, **kwargs):
            if self.closed or not self._is_master_process():
                return send_queued(self, msg, *args, **kwargs)
            with lock:
                self.socket.send_multipart(msg, *args, **kwargs)
        T.send_multipart = send_now
        flush_unlocked = S._flush
        def flush_locked(self):
            with lock:
                flush_unlocked(self)
        S._flush = flush_locked
    K = kernelbase.Kernel
    if hasattr(K, '_publish_status') and hasattr(K, '_publish_execute_input'):
        status = K._publish_status
        def publish_status(self, state, *a, **kw):
            if state != 'busy':
                status(self, state, *a, **kw)
        K._publish_status = publish_status
        K._publish_execute_input = lambda self, *a, **kw: None
    if hasattr(K, '_flush_control_queue'):
        async def no_control_flush(self):
            return None
        K._flush_control_queue = no_control_flush
    if hasattr(kernelbase, '_accepts_cell_id'):
        accepts, known = kernelbase._accepts_cell_id, {}
        def accepts_cell_id(meth):
            f = getattr(meth, '__func__', meth)
            if f not in known:
                known[f] = accepts(meth)
            return known[f]
        kernelbase._accepts_cell_id = ipkernel._accepts_cell_id = accepts_cell_id
    Shell = interactiveshell.InteractiveShell
    if hasattr(Shell, 'transform_cell') and hasattr(ipkernel.IPythonKernel, 'do_execute'):
        transform = Shell.transform_cell
        def transform_once(self, raw_cell):
            memo = self.__dict__.get('_mcpbox_tc')
            if memo is not None:
                self._mcpbox_tc = None
                if memo[0] is raw_cell:
                    return memo[1]
            cell = transform(self, raw_cell)
            if '_mcpbox_tc' in self.__dict__:	# inside do_execute: its run_cell asks again
                self._mcpbox_tc = (raw_cell, cell)
            return cell
        Shell.transform_cell = transform_once
        do_execute = ipkernel.IPythonKernel.do_execute
        @functools.wraps(do_execute)
        async def do_execute_once(self, *args, **kwargs):
            self.shell._mcpbox_tc = None
            try:
                return await do_execute(self, *args, **kwargs)
            finally:
                self.shell.__dict__.pop('_mcpbox_tc', None)
        ipkernel.IPythonKernel.do_execute = do_execute_once
    if hasattr(session, 'extract_dates'):
        session.extract_dates = lambda obj: obj
    catch = getattr(getattr(formatters, 'catch_format_error', None), '__wrapped__', None)
    for cls in list(vars(formatters).values()):
        decorated = isinstance(cls, type) and cls.__dict__.get('__call__')
        inner = getattr(decorated, '__wrapped__', None)
        if catch and inner:
            def bind(inner, decorated):
                def call(self, *args, **kwargs):
                    if kwargs or len(args) != 1:
                        return decorated(self, *args, **kwargs)
                    return catch(inner, self, *args)
                return call
            cls.__call__ = bind(inner, decorated)
    App = kernelapp.IPKernelApp
    if hasattr(App, 'init_kernel'):
        init_kernel = App.init_kernel
        def init_kernel_quiet(self):
            init_kernel(self)
            reply_now(getattr(self.kernel, 'shell_stream', None))
            self.log.setLevel(max(logging.WARN, self.log_level))
        App.init_kernel = init_kernel_quiet


def reply_now(stream):
    """Replies on the shell stream go out at once when none waits before them."""
    if stream is None or not all(hasattr(stream, a) for a in ('sending', 'socket', 'send_multipart')):
        return
    queued = stream.send_multipart
    def send_now(msg, flags=0, copy=True, track=False, callback=None, **kwargs):
        if callback or kwargs or track or stream.socket is None or stream.sending():
            return queued(msg, flags=flags, copy=copy, track=track, callback=callback, **kwargs)
        try:
            stream.socket.send_multipart(msg, flags=flags | zmq.NOBLOCK, copy=copy)
        except zmq.Again:
            queued(msg, flags=flags, copy=copy)
    stream.send_multipart = send_now


if __name__ == "__main__":
    apply()
    kernelapp.launch_new_instance()
