"""A local stand-in for the Hugging Face Hub, enough of its HTTP API for `huggingface_hub` and `transformers` to
create a repository, commit to it (regular files inline, large files through the LFS batch API), validate a model
card, list and describe it, and download from it, all on 127.0.0.1 with no network.

Implemented endpoints (model repositories only; `{repo}` is `namespace/name`, `{rev}` a branch or a commit sha):

    POST /api/repos/create                                  create (409 if it exists, 403 outside the token's rights)
    POST /api/validate-yaml                                 parse a README's YAML front matter (400 with errors)
    POST /api/models/{repo}/preupload/{rev}                 upload mode (lfs or regular) and the current oid per file
    POST /{repo}.git/info/lfs/objects/batch                 LFS batch: upload and verify actions, none if stored
    PUT  /lfs-objects/{sha256}                              LFS upload target (the content must hash to sha256)
    POST /{repo}.git/info/lfs/verify                        LFS verify
    POST /api/models/{repo}/commit/{rev}                    NDJSON commit: header, file, lfsFile, deletedFile/Folder
    GET  /api/models/{repo}[/revision/{rev}]                repo info: sha and siblings
    GET  /api/models/{repo}/tree/{rev}[/{path}]             tree listing (`recursive`)
    HEAD, GET /{repo}/resolve/{rev}/{path}                  file content with ETag, X-Repo-Commit, Content-Length

Oids follow the Hub: the git blob sha1 for regular files, the sha256 of the content for LFS files (which the client
compares with its own, so an unchanged file is left out of the next commit). Errors carry the `X-Error-Code` and
`X-Error-Message` headers that `huggingface_hub.utils.hf_raise_for_status` turns into its typed exceptions. A wrong
token gets 401 "Invalid credentials in Authorization header" on every endpoint.

Counters (`commits`, `lfs_uploads`, `requests`) let tests check what the clients sent.
"""

import base64
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# Paths stored through LFS, as the Hub's default .gitattributes and its "binary files go to LFS" rule decide.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".png", ".jpg", ".jpeg", ".npz")
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
INITIAL_GITATTRIBUTES = (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"
)
REPO_ID = r"(?P<repo>[\w.-]+/[\w.-]+)"


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    """A file of one commit: its bytes (for LFS files, the stored object) and its Hub oids."""

    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def oid(self) -> str:
        """What the preupload endpoint reports: sha256 for LFS files, the git blob sha1 otherwise."""
        return self.sha256 if self.lfs else git_blob_sha1(self.content)

    @property
    def pointer(self) -> bytes:
        return (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.content)}\n".encode()
        )

    @property
    def blob_id(self) -> str:
        return git_blob_sha1(self.pointer if self.lfs else self.content)


@dataclass
class Repository:
    """A model repository: its commits, newest last, each a sha and the full file map."""

    repo_id: str
    commits: list[tuple[str, dict[str, StoredFile]]] = field(default_factory=list)

    def files(self, revision: str) -> tuple[str, dict[str, StoredFile]] | None:
        if revision == "main":
            return self.commits[-1]
        return next((commit for commit in self.commits if commit[0] == revision), None)


class HubError(Exception):
    """An HTTP error answer: status, `X-Error-Code` (may be empty) and message."""

    def __init__(self, status: int, code: str, message: str, **payload: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.payload = status, code, message, payload


@dataclass
class HubState:
    """Everything the server stores; `tokens` maps a token to the namespaces it may write to."""

    tokens: dict[str, set[str]]
    repos: dict[str, Repository] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HubHandler(BaseHTTPRequestHandler):
    """Routes one request to the endpoint methods below; `server.state` is the shared `HubState`."""

    protocol_version = "HTTP/1.1"
    routes = (
        ("POST", r"/api/repos/create", "create_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", rf"/api/models/{REPO_ID}/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", rf"/api/models/{REPO_ID}/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", rf"/{REPO_ID}\.git/info/lfs/objects/batch", "lfs_batch"),
        ("POST", rf"/{REPO_ID}\.git/info/lfs/verify", "lfs_verify"),
        ("PUT", r"/lfs-objects/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
        ("GET", rf"/api/models/{REPO_ID}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", "tree"),
        ("GET", rf"/api/models/{REPO_ID}(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
        ("GET", rf"/{REPO_ID}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", rf"/{REPO_ID}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    )

    def log_message(self, format: str, *args) -> None:  # silence the default stderr logging
        pass

    @property
    def state(self) -> HubState:
        return self.server.state

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, self.query = unquote(url.path), parse_qs(url.query)
        body = self.read_body()
        with self.state.lock:
            self.state.requests.append(f"{method} {url.path}")
        try:
            self.check_token()
            for route_method, pattern, handler in self.routes:
                match = re.fullmatch(pattern, path)
                if route_method == method and match:
                    with self.state.lock:
                        status, payload, headers = getattr(self, handler)(body, **match.groupdict())
                    break
            else:
                raise HubError(404, "", f"no such endpoint: {method} {path}")
        except HubError as error:
            message = json.dumps({"error": error.message, **error.payload}).encode()
            headers = {"X-Error-Message": error.message, **({"X-Error-Code": error.code} if error.code else {})}
            self.send(error.status, message, {"Content-Type": "application/json", **headers}, method)
            return
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json", **headers}
        self.send(status, payload, headers, method)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, payload: bytes, headers: dict[str, str], method: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(payload)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def check_token(self) -> str | None:
        """The request's token, if any; a token the server does not know is refused on every endpoint."""
        authorization = self.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ")
        if token not in self.state.tokens:
            raise HubError(401, "", "Invalid credentials in Authorization header")
        return token

    def require_write(self, namespace: str) -> None:
        token = self.check_token()
        if token is None:
            raise HubError(401, "", "You must be authenticated to write to the Hub")
        if namespace not in self.state.tokens[token]:
            raise HubError(403, "", f"You don't have the rights to write to the namespace {namespace}")

    def repository(self, repo_id: str, revision: str | None = "main") -> tuple[str, dict[str, StoredFile]]:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", "Repository not found")
        commit = repo.files(revision or "main")
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    # Endpoints: each returns (status, JSON-able payload or bytes, extra headers).

    def create_repo(self, body: bytes):
        request = json.loads(body)
        namespace, name = request.get("organization"), request["name"]
        if namespace is None:
            raise HubError(400, "", "this server needs an explicit namespace (organization)")
        self.require_write(namespace)
        repo_id = f"{namespace}/{name}"
        if repo_id in self.state.repos:
            raise HubError(409, "", "You already created this model repo", url=f"{self.base_url}/{repo_id}")
        files = {".gitattributes": StoredFile(INITIAL_GITATTRIBUTES, lfs=False)}
        self.state.repos[repo_id] = Repository(repo_id, [(commit_sha(repo_id, files, "initial commit", ""), files)])
        return 200, {"url": f"{self.base_url}/{repo_id}", "name": repo_id}, {}

    def validate_yaml(self, body: bytes):
        content = json.loads(body)["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, flags=re.DOTALL)
        if match is None:
            return 200, {"warnings": [{"message": "empty or missing yaml metadata in repo card"}]}, {}
        try:
            metadata = yaml.safe_load(match[1])
        except yaml.YAMLError as error:
            raise HubError(400, "", f"invalid YAML: {error}") from error
        if not isinstance(metadata, dict):
            raise HubError(400, "", "the YAML metadata must be a mapping")
        self.state.counts["validated_cards"] += 1
        return 200, {"errors": [], "warnings": []}, {}

    def preupload(self, body: bytes, repo: str, rev: str):
        self.require_write(repo.split("/")[0])
        _, files = self.repository(repo, rev)
        answers = []
        for entry in json.loads(body)["files"]:
            sample = base64.b64decode(entry["sample"])
            lfs = entry["path"].endswith(LFS_SUFFIXES) or entry["size"] > LFS_SIZE_THRESHOLD or b"\0" in sample
            stored = files.get(entry["path"])
            oid = stored.oid if stored is not None and stored.lfs == lfs else None
            answers.append(
                {"path": entry["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        return 200, {"files": answers, "commitOid": self.repository(repo, rev)[0]}, {}

    def lfs_batch(self, body: bytes, repo: str):
        self.require_write(repo.split("/")[0])
        self.repository(repo)
        request = json.loads(body)
        objects = []
        for item in request["objects"]:
            answer = {"oid": item["oid"], "size": item["size"]}
            if item["oid"] not in self.state.lfs_objects:
                answer["actions"] = {
                    "upload": {"href": f"{self.base_url}/lfs-objects/{item['oid']}"},
                    "verify": {"href": f"{self.base_url}/{repo}.git/info/lfs/verify"},
                }
            objects.append(answer)
        return 200, {"transfer": "basic", "objects": objects}, {}

    def lfs_upload(self, body: bytes, oid: str):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "", f"the uploaded content does not hash to {oid}")
        self.state.lfs_objects[oid] = body
        self.state.counts["lfs_uploads"] += 1
        return 200, b"", {}

    def lfs_verify(self, body: bytes, repo: str):
        request = json.loads(body)
        stored = self.state.lfs_objects.get(request["oid"])
        if stored is None or len(stored) != request["size"]:
            raise HubError(404, "", f"LFS object {request['oid']} was not uploaded")
        return 200, {"success": True}, {}

    def commit(self, body: bytes, repo: str, rev: str):
        self.require_write(repo.split("/")[0])
        parent, files = self.repository(repo, rev)
        if rev != "main":
            raise HubError(400, "", "this server commits to main only")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = dict(files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                if value["oid"] not in self.state.lfs_objects:
                    raise HubError(400, "", f"LFS object {value['oid']} of {value['path']} was not uploaded")
                files[value["path"]] = StoredFile(self.state.lfs_objects[value["oid"]], lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "EntryNotFound", "A file with this name doesn't exist")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {path: stored for path, stored in files.items() if not path.startswith(prefix)}
        sha = commit_sha(repo, files, header["summary"], parent)
        self.state.repos[repo].commits.append((sha, files))
        self.state.counts["commits"] += 1
        return 200, {"success": True, "commitOid": sha, "commitUrl": f"{self.base_url}/{repo}/commit/{sha}"}, {}

    def repo_info(self, body: bytes, repo: str, rev: str | None = None):
        sha, files = self.repository(repo, rev)
        siblings = [{"rfilename": path} for path in sorted(files)]
        info = {"id": repo, "modelId": repo, "sha": sha, "private": False, "siblings": siblings, "tags": []}
        return 200, info, {}

    def tree(self, body: bytes, repo: str, rev: str, path: str | None = None):
        _, files = self.repository(repo, rev)
        prefix = f"{path.rstrip('/')}/" if path else ""
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        entries, folders = [], set()
        for name, stored in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            rest = name.removeprefix(prefix)
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/")[0])
                continue
            entry = {"type": "file", "path": name, "size": len(stored.content), "oid": stored.blob_id}
            if stored.lfs:
                entry["lfs"] = {"oid": stored.sha256, "size": len(stored.content), "pointerSize": len(stored.pointer)}
            entries.append(entry)
        entries += [
            {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()}
            for folder in sorted(folders)
        ]
        return 200, entries, {}

    def resolve(self, body: bytes, repo: str, rev: str, path: str):
        sha, files = self.repository(repo, rev)
        stored = files.get(path)
        if stored is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}")
        self.state.counts["downloads" if self.command == "GET" else "metadata_requests"] += 1
        headers = {"ETag": f'"{stored.oid}"', "X-Repo-Commit": sha, "Content-Type": "application/octet-stream"}
        return 200, stored.content, headers


def commit_sha(repo_id: str, files: dict[str, StoredFile], message: str, parent: str) -> str:
    tree = "".join(f"{path}\0{stored.oid}\n" for path, stored in sorted(files.items()))
    return hashlib.sha1(f"{repo_id}\n{parent}\n{message}\n{tree}".encode()).hexdigest()


class FakeHub:
    """Runs the server on 127.0.0.1 (a free port) in a daemon thread; `url` is its `HF_ENDPOINT`."""

    def __init__(self, tokens: dict[str, set[str]]) -> None:
        self.state = HubState(tokens=tokens)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
        self.server.daemon_threads = True
        self.server.state = self.state
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a repository at a revision, path -> content."""
        with self.state.lock:
            _, files = self.state.repos[repo_id].files(revision)
            return {path: stored.content for path, stored in files.items()}

    def commit_count(self, repo_id: str) -> int:
        with self.state.lock:
            return len(self.state.repos[repo_id].commits)
