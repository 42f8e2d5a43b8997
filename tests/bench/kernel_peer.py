# The peer of tests/bench/kernels.mjs: a bare jupyter_client (Debian python3-jupyter-client) round trip to
# ipykernel on this machine, no sandbox and no MCP. Prints JSON: start_ms (start_new_kernel until ready)
# and the milliseconds of each `1+1` execute_interactive.
import json, sys, time
from jupyter_client.manager import start_new_kernel

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
t0 = time.perf_counter()
km, kc = start_new_kernel(kernel_name='python3', extra_arguments=['--HistoryManager.enabled=False'])
start_ms = (time.perf_counter() - t0) * 1000
rt = []
for i in range(n + 10):
    a = time.perf_counter()
    kc.execute_interactive('1+1', output_hook=lambda m: None, timeout=30)
    if i >= 10:
        rt.append((time.perf_counter() - a) * 1000)
kc.stop_channels()
km.shutdown_kernel(now=True)
print(json.dumps({'start_ms': start_ms, 'rt': rt}))
