"""A small Language Server Protocol client for the editor tests.

It runs the real yaml-language-server (the server inside VS Code's Red Hat YAML
extension, pinned in package.json beside this file) over stdio, frames JSON-RPC
messages with Content-Length headers, answers the server's configuration
requests, and offers what the tests need: open, change and close a document,
wait for its diagnostics, ask for completion and hover, and ask which schemas
the server associated with a document.

Standard library only. Positions are 1-based lines and columns counted in
characters, as in crosswalk's own diagnostics; the conversion to LSP's 0-based
UTF-16 positions happens here. The server runs with offline.js preloaded, which
refuses every network connection and reports the attempt.

Contract: after `open` or `change`, read `diagnostics` before changing or
closing the document again, so every diagnostics answer belongs to the text
last sent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
OFFLINE_GUARD = HERE / "offline.js"
TIMEOUT = 30.0

# The `yaml` settings section, as VS Code would send it; `schemas` is filled per server.
YAML_SETTINGS = {
    "validate": True,
    "hover": True,
    "completion": True,
    "format": {"enable": False},
    "schemaStore": {"enable": False},  # no catalogue download, no surprise associations
    "kubernetesCRDStore": {"enable": False},
    "schemas": {},
}
SEVERITIES = {1: "error", 2: "warning", 3: "information", 4: "hint"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def unavailable() -> str | None:
    """Why the server cannot run on this machine, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the editor tests run yaml-language-server on it)"
    if not SERVER_SCRIPT.is_file():
        return "yaml-language-server is not installed: run `npm ci --prefix tests/editor`"
    return None


def file_uri(path: Path | str) -> str:
    """The file:// URI of a path, percent-encoded as VS Code encodes it."""
    return Path(path).resolve().as_uri()


@dataclass(frozen=True)
class Diagnostic:
    """One published diagnostic; lines and columns are 1-based characters."""

    line: int
    column: int
    end_line: int
    end_column: int
    severity: str
    message: str


class ServerError(RuntimeError):
    """The server exited, answered with an error, or did not answer in time."""


class LanguageServer:
    """One yaml-language-server process, initialised for the workspace `root`.

    `schemas` is the `yaml.schemas` setting ({schema URI or path: [globs]}),
    resolved by the server against `root` when relative. Use as a context
    manager, or call `shutdown`.
    """

    def __init__(self, root: Path, schemas: dict | None = None, *, timeout: float = TIMEOUT):
        reason = unavailable()
        if reason is not None:
            raise ServerError(reason)
        self.timeout = timeout
        self.settings = dict(YAML_SETTINGS, schemas=dict(schemas or {}))
        self.stderr: list[str] = []
        self.log: list[str] = []
        self._changed = threading.Condition()
        self._send_lock = threading.Lock()
        self._next_id = 0
        self._responses: dict[int, dict] = {}
        self._published: dict[str, list[dict]] = {}
        self._texts: dict[str, str] = {}
        self._versions: dict[str, int] = {}
        self._exited = False
        command = [
            shutil.which("node"),
            "--require",
            str(OFFLINE_GUARD),
            str(SERVER_SCRIPT),
            "--stdio",
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=root,
        )
        threading.Thread(target=self._read_messages, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            self._initialize(Path(root))
        except BaseException:
            self._process.kill()
            self._process.wait()
            raise

    # -- lifecycle ------------------------------------------------------------

    def _initialize(self, root: Path) -> None:
        folder = {"uri": file_uri(root), "name": root.name or "root"}
        capabilities = {
            "workspace": {"configuration": True, "workspaceFolders": True},
            "textDocument": {
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "completion": {"completionItem": {"snippetSupport": False}},
                "publishDiagnostics": {},
            },
        }
        result = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": folder["uri"],
                "workspaceFolders": [folder],
                "capabilities": capabilities,
                "locale": "en",
            },
        )
        self.server_info = (result or {}).get("serverInfo", {})
        self.notify("initialized", {})
        # After `initialized` the server pulls its settings through
        # workspace/configuration; its codeLens handler waits for that pull to
        # finish. Once codeLens answers, yaml.schemas is in force, and documents
        # opened from now on are checked once, against it.
        self.request("textDocument/codeLens", {"textDocument": {"uri": folder["uri"] + "/none"}})

    def shutdown(self) -> None:
        if self._process.poll() is None:
            try:
                self.request("shutdown", None, timeout=5)
                self.notify("exit", None)
                self._process.wait(timeout=5)
            except (ServerError, OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    @property
    def network_attempts(self) -> list[str]:
        """Connections and lookups the server tried (and offline.js refused)."""
        return [
            line.split("refused ", 1)[1] for line in self.stderr if line.startswith("[offline]")
        ]

    # -- documents ------------------------------------------------------------

    def open(self, path: Path, text: str | None = None) -> str:
        """Open `path` (with `text` instead of its contents, if given); returns its URI."""
        uri = file_uri(path)
        if text is None:
            text = Path(path).read_text(encoding="utf-8")
        with self._changed:
            self._published.pop(uri, None)
            self._texts[uri] = text
            self._versions[uri] = 1
        document = {"uri": uri, "languageId": "yaml", "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": document})
        return uri

    def change(self, uri: str, text: str) -> None:
        """Replace the whole text of an open document."""
        with self._changed:
            self._published.pop(uri, None)
            self._texts[uri] = text
            self._versions[uri] += 1
            version = self._versions[uri]
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def close(self, uri: str) -> None:
        """Close a document and wait for the server to clear its diagnostics, so
        that a later `open` of the same URI never sees that stale answer."""
        with self._changed:
            self._published.pop(uri, None)
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self._wait(lambda: uri in self._published, f"diagnostics cleared for {uri}")
        with self._changed:
            self._published.pop(uri, None)
            self._texts.pop(uri, None)
            self._versions.pop(uri, None)

    def diagnostics(self, uri: str) -> list[Diagnostic]:
        """The diagnostics the server publishes for the text last sent, sorted.

        The server validates 200 ms after the last edit and then publishes
        once; this waits for that publication (up to the timeout)."""
        published = self._wait(lambda: self._published.get(uri), f"diagnostics for {uri}")
        found = []
        for item in published:
            start = self._from_lsp(uri, item["range"]["start"])
            end = self._from_lsp(uri, item["range"]["end"])
            severity = SEVERITIES.get(item.get("severity", 1), str(item.get("severity")))
            found.append(Diagnostic(*start, *end, severity, item.get("message", "")))
        return sorted(found, key=lambda d: (d.line, d.column, d.message))

    def completion(self, uri: str, line: int, column: int) -> list[str]:
        """The labels the server offers at a position."""
        result = self.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": self._to_lsp(uri, line, column)},
        )
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        return [item["label"] for item in items]

    def hover(self, uri: str, line: int, column: int) -> str:
        """The hover text at a position ("" when there is none)."""
        result = self.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": self._to_lsp(uri, line, column)},
        )
        contents = (result or {}).get("contents", "")
        if isinstance(contents, dict):
            return contents.get("value", "")
        if isinstance(contents, list):
            return "\n".join(
                part if isinstance(part, str) else part.get("value", "") for part in contents
            )
        return str(contents)

    def schemas(self, uri: str) -> list[str]:
        """The URIs of the schemas the server associated with a document."""
        return [schema["uri"] for schema in self.request("yaml/get/jsonSchema", uri) or []]

    # -- positions --------------------------------------------------------------

    def _lines(self, uri: str) -> list[str]:
        return _LINE_BREAK.split(self._texts[uri])

    def _to_lsp(self, uri: str, line: int, column: int) -> dict:
        text = self._lines(uri)[line - 1]
        return {"line": line - 1, "character": _utf16_length(text[: column - 1])}

    def _from_lsp(self, uri: str, position: dict) -> tuple[int, int]:
        lines = self._lines(uri)
        text = lines[position["line"]] if position["line"] < len(lines) else ""
        units = characters = 0
        for character in text:
            if units >= position["character"]:
                break
            units += _utf16_length(character)
            characters += 1
        return position["line"] + 1, characters + 1

    # -- JSON-RPC -------------------------------------------------------------

    def request(self, method: str, params, *, timeout: float | None = None):
        """Send a request and return its result; raises ServerError on an error answer."""
        with self._changed:
            self._next_id += 1
            request_id = self._next_id
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        answer = self._wait(lambda: self._responses.pop(request_id, None), method, timeout)
        if "error" in answer:
            raise ServerError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result")

    def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        with self._send_lock:
            try:
                self._process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError) as exc:
                raise ServerError(f"the server is gone: {exc}{self._stderr_tail()}") from None

    def _wait(self, ready, what: str, timeout: float | None = None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._changed:
            while True:
                value = ready()
                if value is not None and value is not False:
                    return value
                if self._exited:
                    raise ServerError(f"the server exited waiting for {what}{self._stderr_tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError(f"no {what} within the timeout{self._stderr_tail()}")
                self._changed.wait(left)

    def _stderr_tail(self) -> str:
        tail = [line for line in self.stderr[-10:] if line.strip()]
        return "".join(f"\n  server: {line}" for line in tail)

    def _read_messages(self) -> None:
        stream = self._process.stdout
        try:
            while True:
                length = None
                while True:
                    header = stream.readline()
                    if not header:
                        return
                    header = header.strip()
                    if not header:
                        break
                    name, _, value = header.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    continue
                self._dispatch(json.loads(stream.read(length)))
        finally:
            with self._changed:
                self._exited = True
                self._changed.notify_all()

    def _dispatch(self, message: dict) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": self._answer(message)})
        elif method is None:
            with self._changed:
                self._responses[message["id"]] = message
                self._changed.notify_all()
        elif method == "textDocument/publishDiagnostics":
            params = message["params"]
            with self._changed:
                self._published[params["uri"]] = params["diagnostics"]
                self._changed.notify_all()
        elif method in ("window/logMessage", "window/showMessage"):
            self.log.append(message["params"].get("message", ""))

    def _answer(self, request: dict):
        """Results for requests the server sends: its settings, and null for the
        rest (capability registrations, progress tokens)."""
        if request["method"] != "workspace/configuration":
            return None
        sections = {
            "yaml": self.settings,
            "http": {"proxy": "", "proxyStrictSSL": False},
            "editor": {"detectIndentation": True},
        }
        return [sections.get(item.get("section")) for item in request["params"]["items"]]

    def _read_stderr(self) -> None:
        for raw in self._process.stderr:
            self.stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
