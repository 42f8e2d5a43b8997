# The peer of tests/bench/kernels.mjs: a bare jupyter_client (Debian python3-jupyter-client) round trip to
# ipykernel on this machine, no sandbox and no MCP. Prints JSON lines: first {start_ms} (start_new_kernel
# until ready), then for each line N read from stdin the milliseconds of N `1+1` execute_interactive calls
# ({rt: [...]}), so the caller can interleave them with its own; ends at EOF. With an argument N instead:
# one run of N after 10 unmeasured (the old interface).
import json, sys, time
from jupyter_client.manager import start_new_kernel

def rounds(kc, n):
    rt = []
    for _ in range(n):
        a = time.perf_counter()
        kc.execute_interactive('1+1', output_hook=lambda m: None, timeout=30)
        rt.append((time.perf_counter() - a) * 1000)
    return rt

t0 = time.perf_counter()
km, kc = start_new_kernel(kernel_name='python3', extra_arguments=['--HistoryManager.enabled=False'])
start_ms = (time.perf_counter() - t0) * 1000
rounds(kc, 10)
try:
    if len(sys.argv) > 1:
        print(json.dumps({'start_ms': start_ms, 'rt': rounds(kc, int(sys.argv[1]))}))
    else:
        print(json.dumps({'start_ms': start_ms}), flush=True)
        for line in sys.stdin:
            print(json.dumps({'rt': rounds(kc, int(line))}), flush=True)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
