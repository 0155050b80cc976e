"""A contract-checking, fault-injecting proxy in front of moto, for keel's AWS tests.

python3 proxy.py LISTEN_PORT UPSTREAM_URL LOGFILE

Copied from the project's shared prototype and made what the tests need:
- Every request is checked against botocore's model (AWS's own API
  description); a violation is answered 400 KeelContractViolation and never
  reaches moto.
- ClientToken idempotency, which moto lacks.
- The calls that launch instances reach moto one at a time (moto's subnet
  address generator is not thread-safe; AWS takes them side by side).
- POST /__proxy/faults queues faults: {"op": "RunInstances", "kind": "error",
  "status": 503, "code": "RequestLimitExceeded", "times": 2} or
  {"op": ..., "kind": "lose_response"}; {"random": 0.2} makes a fifth of all
  requests fail at random (half of them 503 errors before moto, half lost
  answers after it).
- DescribeInstances filtered by instance-state-name while states are delayed: the
  proxy applies that filter to the states it shows, not moto to its own.
- POST /__proxy/config sets what AWS does and moto does not:
  {"pending_seconds": 2}: an instance is `pending` (a VPC and subnet too)
  for that long after its create, and `stopping`/`shutting-down` as long
  after a stop or terminate; {"not_found_after_create": 2}: the first two
  describes of a new instance by id, within 10 s of its create, answer
  InvalidInstanceID.NotFound (eventual consistency); {"rate_limit": 20}: more than 20 requests in a
  second answer 503 RequestLimitExceeded; {"latency_ms": 100}.
- LOGFILE gets a JSON line per request: its time ("t", seconds since the
  epoch), service, operation, contract violations, and the parameters of
  Delete* and Terminate* calls.
- GET /__proxy/stats: requests in all and per operation, contract
  violations, and every moto HTTP 500 (moto answers 500 for what it does not
  implement: a test asserts there were none).
"""
import contextlib, http.client, json, random, re, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import xml.etree.ElementTree as ET
import contract

PORT, UPSTREAM, LOG = int(sys.argv[1]), urllib.parse.urlparse(sys.argv[2]), sys.argv[3]
faults, lock = [], threading.Lock()
# moto hands out a subnet's private addresses from a generator that is not
# thread-safe: two launches at once in one subnet can fail with HTTP 500
# ("generator already executing"), which AWS never does. The calls that
# launch instances go to moto one at a time (its work is serial under the
# GIL anyway; the latency above is still slept side by side).
LAUNCHES = {"RunInstances", "CreateAutoScalingGroup", "UpdateAutoScalingGroup", "SetDesiredCapacity", "ExecutePolicy"}
launch_lock = threading.Lock()
config = {"pending_seconds": 0, "not_found_after_create": 0, "rate_limit": 0, "latency_ms": 0, "random": 0.0}
stats = {"requests": 0, "by_op": {}, "violations": 0, "moto_500": [], "faults": 0}
born = {}       # resource id -> (time of its create or last state change, the state it is going to)
describes = {}  # instance id -> describes by id so far
window = []     # times of the requests of the last second (rate_limit)
idem = {}   # (service, op, ClientToken) -> (params without token, status, content type, body): AWS's idempotency, which moto lacks
logf = open(LOG, "a", buffering=1)

def error_body(protocol, code, message, status):
    if protocol in ("json", "rest-json"):
        return "application/x-amz-json-1.1", json.dumps({"__type": code, "message": message}).encode()
    if protocol == "ec2":
        return "text/xml", f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>proxy</RequestID></Response>".encode()
    return "text/xml", f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy</RequestId></ErrorResponse>".encode()

ID_RE = {"RunInstances": r"<instanceId>(i-[0-9a-f]+)</instanceId>", "CreateVpc": r"<vpcId>(vpc-[0-9a-f]+)</vpcId>",
         "CreateSubnet": r"<subnetId>(subnet-[0-9a-f]+)</subnetId>"}
TRANSITION = {"StopInstances": "stopped", "TerminateInstances": "terminated", "StartInstances": "running"}
INTERIM = {"running": ("0", "pending"), "stopped": ("64", "stopping"), "terminated": ("32", "shutting-down")}

def remember(op, params, body):
    """Records when a resource was made or started changing state."""
    now = time.monotonic()
    if op in ID_RE:
        for rid in re.findall(ID_RE[op], body):
            born.setdefault(rid, (now, "made"))
    if op in TRANSITION:
        for k, v in params.items():
            if k.startswith("InstanceIds") or k.startswith("InstanceId"):
                for rid in (v if isinstance(v, list) else [v]):
                    born[rid] = (now, TRANSITION[op])

def delay_states(body):
    """Rewrites states into what AWS would still answer (pending, stopping, ...)."""
    wait = config.get("pending_seconds", 0)
    if not wait: return body
    now = time.monotonic()
    def young(rid):
        t = born.get(rid)
        return t is not None and now - t[0] < wait
    def instance(m):
        rid, state = m.group(2), m.group(4)
        if not young(rid) or state not in INTERIM: return m.group(0)
        code, name = INTERIM[state]
        return f"{m.group(1)}<code>{code}</code><name>{name}</name>"
    body = re.sub(r"(<instanceId>(i-[0-9a-f]+)</instanceId>((?:(?!</item>).)*?)<instanceState>)<code>\d+</code><name>(\w[\w-]*)</name>",
                  instance, body, flags=re.S)
    def vpc_or_subnet(m):
        return m.group(0).replace("<state>available</state>", "<state>pending</state>") if young(m.group(2)) else m.group(0)
    body = re.sub(r"(<(?:vpcId|subnetId)>((?:vpc|subnet)-[0-9a-f]+)</(?:vpcId|subnetId)>(?:(?!</item>).)*?<state>available</state>)",
                  lambda m: vpc_or_subnet(m) if m.group(0).count("<vpcId>") + m.group(0).count("<subnetId>") == 1 else m.group(0),
                  body, flags=re.S)
    return body

def take_state_filter(op, form):
    """AWS filters DescribeInstances by the state it answers; moto by its own, in which
    an instance the proxy still shows pending or shutting-down (delay_states) has
    already moved on. With delays on, the proxy takes such a filter out of the request
    (the other filters renumbered from 1, as moto reads them) and applies it to its own
    answer (filter_states). Returns the new form body and the states wanted, or None."""
    if op != "DescribeInstances" or form is None or not config.get("pending_seconds"): return None
    filters, wanted = {}, None
    for k, v in form.items():
        m = re.fullmatch(r"Filter\.(\d+)\.(Name|Value\.\d+)", k)
        if m: filters.setdefault(int(m.group(1)), {})[m.group(2)] = v
    kept = [f for _, f in sorted(filters.items()) if f.get("Name") != "instance-state-name"]
    for f in filters.values():
        if f.get("Name") == "instance-state-name":
            wanted = (wanted or set()) | {v for k, v in f.items() if k != "Name"}
    if wanted is None: return None
    out = {k: v for k, v in form.items() if not k.startswith("Filter.")}
    for i, f in enumerate(kept, 1):
        for k, v in f.items(): out[f"Filter.{i}.{k}"] = v
    return urllib.parse.urlencode(out).encode(), wanted

def filter_states(text, wanted):
    """Keeps the instances whose (rewritten) state is wanted, and the reservations left with any."""
    root = ET.fromstring(text)
    uri = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    q = (lambda t: f"{{{uri}}}{t}") if uri else (lambda t: t)
    if uri: ET.register_namespace("", uri)  # written back as the default namespace, as EC2 does
    rset = root.find(q("reservationSet"))
    for res in list(rset if rset is not None else []):
        iset = res.find(q("instancesSet"))
        for inst in list(iset if iset is not None else []):
            if inst.findtext(f"{q('instanceState')}/{q('name')}") not in wanted: iset.remove(inst)
        if iset is None or len(iset) == 0: rset.remove(res)
    return ET.tostring(root, encoding="unicode")

def over_rate():
    limit = config.get("rate_limit", 0)
    if not limit: return False
    now = time.monotonic()
    with lock:
        while window and now - window[0] >= 1.0: window.pop(0)
        if len(window) >= limit: return True
        window.append(now)
    return False

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def _reply(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
        for k, v in headers: self.send_header(k, v)
        self.end_headers(); self.wfile.write(body)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__proxy/faults"):
            with lock: faults.append(json.loads(body))
            return self._reply(200, "application/json", b'{"queued":true}')
        if self.path.startswith("/__proxy/config"):
            with lock: config.update(json.loads(body))
            return self._reply(200, "application/json", json.dumps(config).encode())
        if self.path.startswith("/__proxy/stats"):
            with lock: out = json.dumps(stats).encode()
            return self._reply(200, "application/json", out)
        if self.path.startswith("/__proxy/reset"):
            with lock:
                faults.clear(); idem.clear(); born.clear(); describes.clear()
                stats.update({"requests": 0, "by_op": {}, "violations": 0, "moto_500": [], "faults": 0})
                config.update({"pending_seconds": 0, "not_found_after_create": 0, "rate_limit": 0, "latency_ms": 0, "random": 0.0})
            return self._reply(200, "application/json", b'{}')
        if config.get("latency_ms"): time.sleep(config["latency_ms"] / 1000.0)
        path, _, query = self.path.partition("?")
        model = op = None; errs = []; params = {}
        ctype = self.headers.get("Content-Type", "")
        form = None
        if "x-www-form-urlencoded" in ctype:
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        model = contract.identify(self.headers, form.get("Version") if form else None)
        if model is not None:
            p = model.protocol
            if p in ("query", "ec2") and form is not None:
                op, params, errs = contract.check_query(model, form)
            elif p == "json" or (self.headers.get("X-Amz-Target") and "json" in ctype):
                op, params, errs = contract.check_json(model, self.headers["X-Amz-Target"], body)
            elif p == "rest-json":
                op, params, errs = contract.check_rest_json(model, self.command, path, query, body)
            else:
                op = f"{self.command} {path} (unchecked: {p})"
        # With the time, and what deletes name (tests check their order).
        deleting = bool(op) and (op.startswith("Delete") or op.startswith("Terminate"))
        logf.write(json.dumps({"t": round(time.time(), 3), "service": model.service_name if model else None, "op": op,
                               "params": params if deleting else None, "violations": errs}, default=str) + "\n")
        proto = model.protocol if model else "query"
        with lock:
            stats["requests"] += 1
            stats["by_op"][str(op)] = stats["by_op"].get(str(op), 0) + 1
            if errs: stats["violations"] += 1
        if errs:
            ct, b = error_body(proto, "KeelContractViolation", "; ".join(errs)[:2000], 400)
            return self._reply(400, ct, b)
        with lock:
            f = next((x for x in faults if x.get("op") in (None, op)), None)
            if f:
                f["times"] = f.get("times", 1) - 1
                if f["times"] <= 0: faults.remove(f)
        if not f and over_rate():
            ct, b = error_body(proto, "RequestLimitExceeded", "Request limit exceeded.", 503)
            return self._reply(503, ct, b)
        if not f and config.get("random") and random.random() < config["random"]:
            f = {"kind": "error", "status": 503, "code": "ServiceUnavailable"} if random.random() < 0.5 else {"kind": "lose_response"}
        if f:
            with lock: stats["faults"] += 1
        # NotFound right after a create: AWS's eventual consistency.
        rid = (params or {}).get("InstanceIds", [None])
        rid = rid[0] if isinstance(rid, list) and rid else None
        if op == "DescribeInstances" and rid and rid in born and config.get("not_found_after_create"):
            with lock:
                n = describes[rid] = describes.get(rid, 0) + 1
            # As AWS: only for a moment after the create.
            if n <= config["not_found_after_create"] and time.monotonic() - born[rid][0] < 10:
                ct, b = error_body(proto, "InvalidInstanceID.NotFound", f"The instance ID '{rid}' does not exist", 400)
                return self._reply(400, ct, b)
        if f and f.get("kind") == "error":
            ct, b = error_body(proto, f["code"], f.get("message", "injected"), f["status"])
            return self._reply(f["status"], ct, b)
        token = (params or {}).get("ClientToken") if model is not None and op else None
        key = (model.service_name, op, token) if token else None
        if key and key in idem:
            same, st, ct, b = idem[key]
            if same != {k: v for k, v in params.items() if k != "ClientToken"}:
                ct, b = error_body(proto, "IdempotentParameterMismatch", "ClientToken reused with other parameters", 400)
                return self._reply(400, ct, b)
            return self._reply(st, ct, b)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        state_filter = take_state_filter(op, form)
        if state_filter:
            body, wanted = state_filter
            hdrs = {k: v for k, v in hdrs.items() if k.lower() != "content-length"}
            hdrs["Content-Length"] = str(len(body))
        with launch_lock if op in LAUNCHES else contextlib.nullcontext():
            conn.request(self.command, self.path, body=body, headers=hdrs)
            r = conn.getresponse(); rb = r.read()
        if r.status >= 500:
            with lock: stats["moto_500"].append({"op": op, "status": r.status, "body": rb[:300].decode("utf-8", "replace")})
        if r.status == 200 and op:
            text = rb.decode("utf-8", "replace")
            with lock: remember(op, params or {}, text)
            if op.startswith("Describe"):
                text = delay_states(text)
                if state_filter: text = filter_states(text, wanted)
                rb = text.encode()
        if key and r.status == 200:
            idem[key] = ({k: v for k, v in params.items() if k != "ClientToken"}, r.status, r.getheader("Content-Type", "text/xml"), rb)
        if f and f.get("kind") == "lose_response":   # forwarded and done upstream, the answer never arrives
            self.close_connection = True
            self.wfile.flush(); self.connection.shutdown(2); return
        hop = ("transfer-encoding", "connection", "content-length", "content-type")
        self._reply(r.status, r.getheader("Content-Type", "text/xml"), rb, [(k, v) for k, v in r.getheaders() if k.lower() not in hop])
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
