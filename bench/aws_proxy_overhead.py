"""How much of a request's time is the contract proxy's own work, and how much is moto's.

python3 bench/aws_proxy_overhead.py [--reps N] [--instances N]   # from the source dir; about 20 s

Starts moto and tests/support/aws/proxy.py (pending_seconds 2 as in aws_bench,
latency and rate limit off), makes a VPC, a subnet and N instances through the
proxy, then sends the same signed request to moto directly and through the
proxy, alternately, and prints each one's median and spread:
- DescribeInstances with keel's project tag filter (a refresh or a wait's poll),
- TerminateInstances of N fresh instances (a destroy's batch).
The requests are sent raw over one kept-alive connection, so the client's own
parsing is not counted. Connects only to 127.0.0.1.
"""
import argparse, http.client, os, socket, statistics, subprocess, sys, tempfile, time, urllib.parse, json

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "..", "tests", "support", "aws", "proxy.py")
TAG = "keel:project"
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=0")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port, proc, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None: sys.exit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on {port} within 60 s")


class Ec2:
    """Raw EC2 query requests over one kept-alive connection (what keel's libcurl does)."""
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, action, params):
        body = urllib.parse.urlencode({"Action": action, "Version": "2016-11-15", **params})
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": AUTH,
                   "X-Amz-Date": "20260101T000000Z"}
        start = time.perf_counter()
        self.conn.request("POST", "/", body=body, headers=headers)
        r = self.conn.getresponse(); text = r.read().decode()
        took = time.perf_counter() - start
        if r.status != 200: sys.exit(f"{action}: HTTP {r.status}: {text[:500]}")
        return took, text


def field(text, name):
    return text.split(f"<{name}>", 1)[1].split(f"</{name}>", 1)[0]


def launch(api, subnet, n, project):
    _, text = api.call("RunInstances", {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro", "MinCount": n, "MaxCount": n,
                                        "SubnetId": subnet, "TagSpecification.1.ResourceType": "instance",
                                        "TagSpecification.1.Tag.1.Key": TAG, "TagSpecification.1.Tag.1.Value": project})
    return [part.split("</instanceId>", 1)[0] for part in text.split("<instanceId>")[1:]]


def show(name, direct, proxied):
    md, mp = statistics.median(direct), statistics.median(proxied)
    print(f"{name}: moto {md * 1000:.0f} ms (min {min(direct) * 1000:.0f}, max {max(direct) * 1000:.0f}), "
          f"through the proxy {mp * 1000:.0f} ms (min {min(proxied) * 1000:.0f}, max {max(proxied) * 1000:.0f}): "
          f"the proxy's own {(mp - md) * 1000:.0f} ms")


def measure(moto, proxy, reps, n):
    _, vpc = proxy.call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})
    vpc = field(vpc, "vpcId")
    _, subnet = proxy.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.0.0.0/20"})
    subnet = field(subnet, "subnetId")
    launch(proxy, subnet, n, "overhead")
    time.sleep(0.5)
    describe = {"Filter.1.Name": f"tag:{TAG}", "Filter.1.Value.1": "overhead"}
    direct, proxied = [], []
    for _ in range(reps):   # alternately, so that both see the same moto and the same machine
        direct.append(moto.call("DescribeInstances", describe)[0])
        proxied.append(proxy.call("DescribeInstances", describe)[0])
    show(f"DescribeInstances of {n} (tag filter)", direct, proxied)
    direct, proxied = [], []
    for i in range(reps):   # fresh instances each time, launched through the proxy as keel's are
        for api, times in ((moto, direct), (proxy, proxied)):
            ids = launch(proxy, subnet, n, f"doomed-{i}")
            times.append(api.call("TerminateInstances", {f"InstanceId.{k + 1}": rid for k, rid in enumerate(ids)})[0])
    show(f"TerminateInstances of {n}", direct, proxied)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--instances", type=int, default=50)
    args = ap.parse_args()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    moto_port, proxy_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        try:
            procs.append(subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_up(moto_port, procs[-1], "moto")
            procs.append(subprocess.Popen([sys.executable, PROXY, str(proxy_port), f"http://127.0.0.1:{moto_port}",
                                           os.path.join(tmp, "proxy.log")], env=env))
            wait_up(proxy_port, procs[-1], "the proxy")
            c = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
            c.request("POST", "/__proxy/config", body=json.dumps({"pending_seconds": 2, "latency_ms": 0, "rate_limit": 0}))
            c.getresponse().read()
            moto, proxy = Ec2(moto_port), Ec2(proxy_port)
            moto.call("DescribeRegions", {})   # moto loads EC2's backend (seconds) on its first call
            measure(moto, proxy, args.reps, args.instances)
        finally:
            for p in procs:
                p.terminate(); p.wait(timeout=10)


if __name__ == "__main__":
    main()
