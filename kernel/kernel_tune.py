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
import logging
from ipykernel import iostream, ipkernel, kernelapp, kernelbase
from IPython.core import formatters
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
            self.log.setLevel(max(logging.WARN, self.log_level))
        App.init_kernel = init_kernel_quiet


if __name__ == "__main__":
    apply()
    kernelapp.launch_new_instance()
