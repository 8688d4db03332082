"""A stand-in Kubernetes API server for remora-pilot's Kubernetes source, written to the API
reference's list and watch JSON ("API Concepts": efficient detection of changes, watch bookmarks,
resource versions, retrieving large results in chunks). It runs in the test's process on loopback
and the test steers it directly:

- LIST `GET /api/v1/services?limit=N[&continue=T]`: `{"kind": "ServiceList", "apiVersion": "v1",
  "metadata": {"resourceVersion": RV, "continue": T, "remainingItemCount": n}, "items": [...]}`;
  pages come from a snapshot taken at the first page, so a paged list is consistent. Items of
  built-in kinds carry no apiVersion/kind (as the real server's typed lists); custom resources do.
  An expired continue token answers HTTP 410 with a Status (reason Expired).
- WATCH `?watch=true&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=S`: chunked,
  newline-delimited `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}`; BOOKMARK
  objects carry only kind, apiVersion and metadata.resourceVersion; a resourceVersion older than
  the retained history gets `ERROR` with a Status of code 410 (or, with gone_as="status", an HTTP
  410 response).
- Discovery `GET /apis/networking.istio.io` and `/apis/security.istio.io`: APIGroup objects.

Control (methods): add/modify/delete objects (record=False changes state without an event, as if
the event were compacted away), compact() (expire every resourceVersion so far), bookmark(),
end_watches(), down()/up(), `expire_continues` (expire the next N continue tokens presented),
`fail_watches` ({plural: N}: answer its next N watches with an ERROR event of code 500) and `requests` (every
API request, in order).
"""

import copy
import itertools
import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# plural -> (group, version, kind); Istio CRDs are served in several versions, v1 preferred.
BUILTIN = {
    "services": ("", "v1", "Service"),
    "endpoints": ("", "v1", "Endpoints"),
    "pods": ("", "v1", "Pod"),
    "serviceaccounts": ("", "v1", "ServiceAccount"),
    "deployments": ("apps", "v1", "Deployment"),
    "statefulsets": ("apps", "v1", "StatefulSet"),
    "endpointslices": ("discovery.k8s.io", "v1", "EndpointSlice"),
}
CUSTOM = {
    "virtualservices": ("networking.istio.io", "VirtualService"),
    "destinationrules": ("networking.istio.io", "DestinationRule"),
    "serviceentries": ("networking.istio.io", "ServiceEntry"),
    "gateways": ("networking.istio.io", "Gateway"),
    "sidecars": ("networking.istio.io", "Sidecar"),
    "authorizationpolicies": ("security.istio.io", "AuthorizationPolicy"),
    "peerauthentications": ("security.istio.io", "PeerAuthentication"),
    "requestauthentications": ("security.istio.io", "RequestAuthentication"),
}
GROUP_VERSIONS = {"networking.istio.io": ["v1", "v1beta1", "v1alpha3"],
                  "security.istio.io": ["v1", "v1beta1"]}
KIND_TO_PLURAL = {kind: plural for plural, (_, _, kind) in BUILTIN.items()}
KIND_TO_PLURAL.update({kind: plural for plural, (_, kind) in CUSTOM.items()})


def status_object(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class KubeApiServer:
    def __init__(self, istio=True, gone_as="event", token=None, tls=None):
        """tls: (cert file, key file[, client CA file]) serves https, requiring a client
        certificate signed by the client CA when given."""
        self.tls = tls
        self.istio = istio
        self.gone_as = gone_as
        self.token = token
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects = {plural: {} for plural in [*BUILTIN, *CUSTOM]}
        self.events = []  # (rv, plural, type, object)
        self.oldest = 0  # watching from a resourceVersion below this is 410 Gone
        self.snapshots = {}  # continue token id -> (rv, items)
        self.generation = 0  # bumped to end every open watch
        self.requests = []
        self.expire_continues = 0  # how many of the next continue tokens presented are expired
        self.fail_watches = {}  # plural -> how many of its next watches answer an ERROR (code 500)
        self.port = 0
        self._server = None
        self._thread = None

    # --- lifecycle -----------------------------------------------------------------------------
    def up(self):
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.api = self
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls[0], self.tls[1])
            if len(self.tls) > 2:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(self.tls[2])
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def down(self):
        """Stops listening and ends every open watch (connection close), keeping the state."""
        server, self._server = self._server, None
        if server is None:
            return
        self.end_watches()
        server.shutdown()
        server.server_close()
        self._thread.join(5)

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # --- objects -------------------------------------------------------------------------------
    def _plural(self, obj):
        return KIND_TO_PLURAL[obj["kind"]]

    def _change(self, plural, kind, obj, record):
        with self.cond:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            key = (obj["metadata"].get("namespace", "default"), obj["metadata"]["name"])
            if kind == "DELETED":
                self.objects[plural].pop(key, None)
            else:
                self.objects[plural][key] = obj
            if record:
                self.events.append((self.rv, plural, kind, copy.deepcopy(obj)))
            self.cond.notify_all()
            return self.rv

    def add(self, obj, record=True):
        """Creates `obj` (a dict with apiVersion, kind, metadata); returns its resourceVersion."""
        obj = copy.deepcopy(obj)
        obj["metadata"].setdefault("namespace", "default")
        obj["metadata"].setdefault("uid", str(uuid.uuid4()))
        obj["metadata"].setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        return self._change(self._plural(obj), "ADDED", obj, record)

    def modify(self, obj, record=True):
        obj = copy.deepcopy(obj)
        obj["metadata"].setdefault("namespace", "default")
        return self._change(self._plural(obj), "MODIFIED", obj, record)

    def delete(self, kind, name, namespace="default", record=True):
        plural = KIND_TO_PLURAL[kind]
        with self.cond:
            obj = copy.deepcopy(self.objects[plural][(namespace, name)])
        return self._change(plural, "DELETED", obj, record)

    def compact(self):
        """Forgets the history: every resourceVersion handed out so far is too old to watch from,
        and every continue token expires. Open watches are ended."""
        with self.cond:
            self.oldest = self.rv  # the current version stays watchable, as etcd's
            self.events.clear()
            self.snapshots.clear()
        self.end_watches()

    def bookmark(self, plural):
        """Sends a BOOKMARK with the current resourceVersion to the open watches of `plural`."""
        with self.cond:
            self.events.append((self.rv, plural, "BOOKMARK", None))
            self.cond.notify_all()
            return self.rv

    def end_watches(self):
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def watch_requests(self, plural):
        return [r for r in self.requests if r["plural"] == plural and r["query"].get("watch") == "true"]

    def list_requests(self, plural):
        return [r for r in self.requests if r["plural"] == plural and r["query"].get("watch") != "true"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code, reason, message):
        self._send_json(code, status_object(code, reason, message))

    def _route(self, path):
        """(plural, group, version, kind) of a collection path, or None."""
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "api" and parts[1] == "v1" and parts[2] in BUILTIN:
            return parts[2], "", "v1", BUILTIN[parts[2]][2]
        if len(parts) == 4 and parts[0] == "apis":
            group, version, plural = parts[1:]
            if plural in BUILTIN and BUILTIN[plural][:2] == (group, version):
                return plural, group, version, BUILTIN[plural][2]
            if (plural in CUSTOM and CUSTOM[plural][0] == group and self.server.api.istio
                    and version in GROUP_VERSIONS[group]):
                return plural, group, version, CUSTOM[plural][1]
        return None

    def do_GET(self):
        api = self.server.api
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = self._route(url.path)
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        api.requests.append({"path": url.path, "query": query, "plural": route[0] if route else None,
                             "authorization": self.headers.get("Authorization"), "client_cert": peer})
        if api.token is not None and self.headers.get("Authorization") != f"Bearer {api.token}":
            return self._status(401, "Unauthorized", "Unauthorized")
        parts = url.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in GROUP_VERSIONS:
            if not api.istio:
                return self._status(404, "NotFound", "the server could not find the requested resource")
            versions = [{"groupVersion": f"{parts[1]}/{v}", "version": v} for v in GROUP_VERSIONS[parts[1]]]
            return self._send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1],
                                         "versions": versions, "preferredVersion": versions[0]})
        if route is None:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        if query.get("watch") == "true":
            return self._watch(api, route, query)
        return self._list(api, route, query)

    def _list(self, api, route, query):
        plural, group, version, kind = route
        api_version = f"{group}/{version}" if group else version
        limit = int(query.get("limit", "0") or 0)
        with api.cond:
            if "continue" in query:
                token_id, _, offset = query["continue"].partition(":")
                snapshot = api.snapshots.get(token_id)
                if api.expire_continues > 0:
                    api.expire_continues -= 1
                    snapshot = None
                if snapshot is None:
                    return self._status(410, "Expired", "The provided continue parameter is too old "
                                        "to display a consistent list result.")
                rv, items = snapshot
                offset = int(offset)
            else:
                rv, offset = api.rv, 0
                items = [copy.deepcopy(o) for _, o in sorted(api.objects[plural].items())]
                for item in items:
                    if plural in BUILTIN:  # typed lists: the List carries them, not the items
                        item.pop("apiVersion", None)
                        item.pop("kind", None)
        end = offset + limit if limit else len(items)
        metadata = {"resourceVersion": str(rv)}
        if end < len(items):
            token_id = str(uuid.uuid4())
            with api.cond:
                api.snapshots[token_id] = (rv, items)
            metadata["continue"] = f"{token_id}:{end}"
            metadata["remainingItemCount"] = len(items) - end
        self._send_json(200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata,
                              "items": items[offset:end]})

    def _chunk(self, data):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, api, route, query):
        plural, group, version, kind = route
        api_version = f"{group}/{version}" if group else version
        bookmarks = query.get("allowWatchBookmarks") == "true"
        deadline = time.monotonic() + int(query.get("timeoutSeconds", "1800"))
        with api.cond:
            cursor = int(query.get("resourceVersion") or api.rv)
            gone = cursor < api.oldest
            generation = api.generation
        if gone and api.gone_as == "status":
            return self._status(410, "Expired", f"too old resource version: {cursor} ({api.oldest})")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with api.cond:
            failing = api.fail_watches.get(plural, 0) > 0 and not gone
            if failing:
                api.fail_watches[plural] -= 1
        try:
            if failing:
                status = status_object(500, "InternalError", "etcdserver: request timed out")
                self._chunk(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
            elif gone:
                status = status_object(410, "Expired", f"too old resource version: {cursor} ({api.oldest})")
                self._chunk(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
            else:
                self._stream(api, plural, kind, api_version, bookmarks, cursor, generation, deadline)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _stream(self, api, plural, kind, api_version, bookmarks, cursor, generation, deadline):
        sent = 0  # index into api.events already considered
        while True:
            with api.cond:
                while True:
                    pending = list(itertools.islice(api.events, sent, None))
                    if pending or api.generation != generation or time.monotonic() >= deadline:
                        break
                    api.cond.wait(0.1)
                # What was queued before the watch was ended still goes out, then the end.
                if not pending and (api.generation != generation or time.monotonic() >= deadline):
                    return
                sent += len(pending)
            for rv, event_plural, event_type, obj in pending:
                if event_plural != plural or rv < cursor or (rv == cursor and event_type != "BOOKMARK"):
                    continue
                if event_type == "BOOKMARK":
                    if not bookmarks:
                        continue
                    obj = {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(rv)}}
                self._chunk(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")
