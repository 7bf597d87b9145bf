#!/usr/bin/env python3
"""Developer tool: a minimal Anthropic-API endpoint that records what the real Claude Code CLI sends.

    python3 scripts/capture-claude-code.py OUT_DIR [PORT]
    HOME=$(mktemp -d) ANTHROPIC_BASE_URL=http://127.0.0.1:PORT ANTHROPIC_API_KEY=sk-test claude -p "hi"

Every request is written to OUT_DIR/NNN-<path>.json as {"method","path","headers","body"} with the key headers
redacted. Replies are canned: a text turn, or a tool_use of Read when the newest user text asks to "read FILE".
"""
import json, os, re, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUT = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8099
os.makedirs(OUT, exist_ok=True)
lock = threading.Lock()
counter = [0]
REDACT = {"x-api-key", "authorization"}

def sse(h, event, data):
    h.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
    h.wfile.flush()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def record(self, body):
        with lock:
            counter[0] += 1
            n = counter[0]
        name = re.sub(r"[^a-z0-9]+", "-", self.path.split("?")[0].lower()).strip("-") or "root"
        headers = {k: ("<redacted>" if k.lower() in REDACT else v) for k, v in self.headers.items()}
        try: parsed = json.loads(body) if body else None
        except Exception: parsed = body.decode("utf-8", "replace")
        with open(os.path.join(OUT, f"{n:03d}-{self.command.lower()}-{name}.json"), "w") as f:
            json.dump({"method": self.command, "path": self.path, "headers": headers, "body": parsed}, f, indent=1, ensure_ascii=False)
        return parsed
    def do_HEAD(self):
        self.record(b""); self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_GET(self):
        self.record(b"")
        body = json.dumps({"data": [{"id": "claude-sonnet-4-5", "type": "model", "display_name": "test"}], "has_more": False}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        req = self.record(body)
        if "count_tokens" in self.path:
            out = json.dumps({"input_tokens": 42}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out); return
        last = ""
        for m in reversed(req.get("messages", [])):
            if m["role"] == "user":
                c = m["content"]
                last = c if isinstance(c, str) else " ".join(b.get("text", "") for b in c if b.get("type") == "text")
                if isinstance(c, list) and any(b.get("type") == "tool_result" for b in c): last = "TOOL_RESULT"
                break
        want_tool = re.search(r"read (\S+)", last)
        model = req.get("model", "m")
        if not req.get("stream"):
            out = json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(out))); self.end_headers(); self.wfile.write(out); return
        self.send_response(200); self.send_header("Content-Type", "text/event-stream"); self.send_header("Connection", "close"); self.end_headers()
        sse(self, "message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 0}}})
        if want_tool:
            path = os.path.abspath(want_tool.group(1))
            sse(self, "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {}}})
            sse(self, "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": json.dumps({"file_path": path})}})
            sse(self, "content_block_stop", {"type": "content_block_stop", "index": 0})
            stop = "tool_use"
        else:
            sse(self, "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
            sse(self, "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done." if last == "TOOL_RESULT" else "Hello from capture."}})
            sse(self, "content_block_stop", {"type": "content_block_stop", "index": 0})
            stop = "end_turn"
        sse(self, "message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}})
        sse(self, "message_stop", {"type": "message_stop"})
        self.close_connection = True

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
