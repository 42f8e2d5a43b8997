#!/usr/bin/python3
"""AgentFlow's official client, as it talks (OpenDCAI/AgentFlow sandbox/client.py and sandbox/sandbox.py).

The package cannot be installed here (it pulls its server with it), so this file sends exactly what
HTTPServiceClient sends (httpx.AsyncClient with base_url, headers Content-Type and X-Worker-ID; GET
/health must be 200 on connect; every POST body as client.py builds it, None values included; any status
>= 400 raises with the body's message) and decides success as Sandbox does (create_session counts only
code == 0 and data.session_status == "active"). Run: agentflow_client.py BASE_URL. Prints one JSON line
with what it saw; exits non-zero on the first thing a real client would fail on.
"""
import asyncio
import base64
import json
import struct
import sys
import uuid

import httpx


class HTTPClientError(Exception):
    def __init__(self, message, status_code=None, response=None):
        super().__init__(message)
        self.status_code = status_code
        self.response = response


class Client:
    """sandbox/client.py HTTPServiceClient: the requests it makes, nothing else."""

    def __init__(self, base_url, worker_id=None, timeout=60.0):
        self.base_url = base_url.rstrip("/")
        self.worker_id = worker_id or f"worker_{uuid.uuid4().hex[:8]}"
        self.timeout = timeout
        self._client = None

    async def connect(self):
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout,
                                         headers={"Content-Type": "application/json", "X-Worker-ID": self.worker_id})
        response = await self._client.get("/health")
        if response.status_code != 200:
            raise ConnectionError(f"Server health check failed: {response.status_code}")

    async def close(self):
        await self._client.aclose()

    async def _request(self, method, endpoint, data=None, timeout=None):
        if method == "GET":
            response = await self._client.get(endpoint, timeout=timeout or self.timeout)
        else:
            response = await self._client.post(endpoint, json=data, timeout=timeout or self.timeout)
        result = response.json()
        if response.status_code >= 400:
            error_msg = result.get("message") or result.get("error") or str(result)
            raise HTTPClientError(f"Request failed: {error_msg}", status_code=response.status_code, response=result)
        return result

    async def execute(self, action, params=None, timeout=None):
        return await self._request("POST", "/api/v1/execute", {"worker_id": self.worker_id, "action": action,
                                                               "params": params or {}, "timeout": timeout},
                                   timeout=timeout)

    async def execute_batch(self, actions, parallel=False, stop_on_error=True):
        return await self._request("POST", "/api/v1/execute/batch", {"worker_id": self.worker_id, "actions": actions,
                                                                     "parallel": parallel,
                                                                     "stop_on_error": stop_on_error})

    async def create_session(self, resource_type, session_config=None, custom_name=None):
        return await self._request("POST", "/api/v1/session/create", {"worker_id": self.worker_id,
                                                                      "resource_type": resource_type,
                                                                      "session_config": session_config or {},
                                                                      "custom_name": custom_name})

    async def destroy_session(self, resource_type):
        return await self._request("POST", "/api/v1/session/destroy", {"worker_id": self.worker_id,
                                                                       "resource_type": resource_type})

    async def list_sessions(self):
        result = await self._request("POST", "/api/v1/session/list", {"worker_id": self.worker_id})
        data = result.get("data", {})
        return data.get("sessions", []) if isinstance(data, dict) and isinstance(data.get("sessions"), list) else []

    async def list_tools(self, include_hidden=False):
        result = await self._request("GET", f"/api/v1/tools?include_hidden={include_hidden}")
        return result.get("tools", [])

    async def warmup(self, backends):
        return await self._request("POST", "/api/v1/warmup", {"backends": backends})

    async def warmup_status(self):
        return await self._request("GET", "/api/v1/warmup/status")

    async def heartbeat(self):
        return await self._request("POST", "/api/v1/lifecycle/heartbeat", {"worker_id": self.worker_id})


def check(cond, what):
    if not cond:
        raise SystemExit(f"agentflow client: {what}")


async def main(base):
    c = Client(base, worker_id="py-client")
    await c.connect()
    seen = {}
    tools = await c.list_tools()
    check(any(t["full_name"] == "vm:screenshot" for t in tools), "vm:screenshot listed")
    # Sandbox.warmup(["vm"]) then get_warmup_status()
    w = await c.warmup(["vm"])
    check(w.get("status") == "success" and w["results"] == {"vm": True}, f"warmup: {w}")
    st = await c.warmup_status()
    check(st["backends"]["vm"]["warmed_up"] is True, f"warmup status: {st}")
    # Sandbox.create_session("vm", {"screen_size": [1024, 768]}): success only as Sandbox decides it
    r = await c.create_session("vm", {"screen_size": [1024, 768]})
    data = r.get("data", {})
    check(r.get("code") == 0 and data.get("session_status") == "active", f"create_session: {r}")
    seen["session_name"] = data["session_name"]
    shot = await c.execute("vm:screenshot", {})
    img = base64.b64decode(shot["data"]["image"])
    check(img[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is a PNG")
    w_, h_ = struct.unpack(">II", img[16:24])
    check([w_, h_] == shot["data"]["size"] == [1024, 768], f"PNG of size: {w_}x{h_} {shot['data']['size']}")
    check(shot["meta"]["tool"] == "vm:screenshot" and shot["meta"]["session_id"] == data["session_id"], "meta")
    seen["screenshot"] = [w_, h_]
    click = await c.execute("vm-click", {"x": 100, "y": 200})
    check(click["data"]["clicked"] == [100, 200], f"click: {click}")
    typed = await c.execute("vm:type", {"text": "hello"})
    check(typed["data"]["length"] == 5, f"type: {typed}")
    b = await c.execute_batch([{"action": "vm:move", "params": {"x": 5, "y": 5}},
                               {"action": "bash:run", "params": {"command": "echo from-batch"}},
                               {"action": "vm:screenshot", "params": {}}], parallel=True)
    check(b["code"] == 0 and b["data"]["success_count"] == 3, f"batch: {b['code']} {b['message']}")
    check(b["data"]["results"][1]["data"]["stdout"] == "from-batch\n", "bash:run in the batch")
    seen["batch"] = [x["meta"]["tool"] for x in b["data"]["results"]]
    sessions = await c.list_sessions()
    check([s["resource_type"] for s in sessions] == ["vm"], f"sessions: {sessions}")
    hb = await c.heartbeat()
    check(hb["data"]["active_sessions"] == ["vm"], f"heartbeat: {hb}")
    try:
        await c.execute("rag:search", {"query": "x"})
        check(False, "rag:search should fail")
    except HTTPClientError as e:
        check(e.status_code == 400 and e.response["code"] == 4002, f"rag:search: {e.status_code} {e.response}")
        seen["rag"] = str(e)
    d = await c.destroy_session("vm")
    check(d["code"] == 0 and d["data"]["session_id"] == data["session_id"], f"destroy: {d}")
    check(await c.list_sessions() == [], "no session left")
    try:
        await c.destroy_session("vm")
        check(False, "a second destroy should fail")
    except HTTPClientError as e:
        check(e.status_code == 404, f"second destroy: {e.status_code}")
    await c.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
