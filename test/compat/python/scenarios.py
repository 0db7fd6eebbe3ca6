"""The same scenarios through Debian's python3-etcd3 (gRPC) and python3-etcd3gw (the JSON
gateway): KV, leases with keys, locks, watches, and auth. Prints one JSON transcript on
stdout; test/compat/pythonClients.test.ts runs it against etcd 3.4 and xetcd and compares.

Usage: scenarios.py <host> <port> <ca-file>. The server serves TLS with the test PKI (the
gRPC client sends its token as call credentials, which gRPC only sends over TLS) and has
users root/rootpw (root role) and app/apppw (readwrite on the prefix app/) with auth on.
"""
import json
import sys
import threading

import etcd3
import etcd3gw
import grpc
from etcd3gw import exceptions as gw_exceptions

HOST, PORT, CA = sys.argv[1], int(sys.argv[2]), sys.argv[3]
transcript = []


def note(step, value):
    transcript.append([step, value])


def grpc_error(fn):
    try:
        fn()
        return None
    except grpc.RpcError as e:
        return [e.code().name, e.details()]


def grpc_client(user=None, password=None):
    return etcd3.client(host=HOST, port=PORT, ca_cert=CA, user=user, password=password, timeout=10)


def gateway(token=None):
    # etcd 3.4 serves /v3/ (and /v3beta/); etcd3gw's default /v3alpha/ is gone from it.
    g = etcd3gw.Etcd3Client(host=HOST, port=PORT, protocol='https', ca_cert=CA, api_path='/v3/', timeout=10)
    if token is not None:
        g.session.headers['Authorization'] = token
    return g


def gateway_answer(fn):
    """The call's result, or the error body the gateway answered."""
    try:
        return fn()
    except gw_exceptions.Etcd3Exception as e:
        return [type(e).__name__, e.detail_text]


def gateway_error(fn):
    try:
        fn()
        return None
    except gw_exceptions.Etcd3Exception as e:
        return [type(e).__name__, json.loads(e.detail_text)]


def kv(c, prefix):
    c.put(prefix + 'a', '1')
    c.put(prefix + 'b', '2')
    value, meta = c.get(prefix + 'a')
    note(prefix + 'get', [value.decode(), meta.version])
    note(prefix + 'prefix', sorted(v.decode() for v, _ in c.get_prefix(prefix)))
    ok, _ = c.transaction(
        compare=[c.transactions.value(prefix + 'a') == '1'],
        success=[c.transactions.put(prefix + 'a', '3')],
        failure=[],
    )
    note(prefix + 'txn', ok)
    note(prefix + 'delete', c.delete(prefix + 'b'))


def gw_kv(g, prefix):
    g.put(prefix + 'a', '1')
    g.put(prefix + 'b', '2')
    [(value, meta)] = g.get(prefix + 'a', metadata=True)
    note(prefix + 'get', [value.decode(), meta['version'], meta['create_revision'] == meta['mod_revision']])
    note(prefix + 'prefix', sorted(v.decode() for v, _ in g.get_prefix(prefix)))
    note(prefix + 'create existing', g.create(prefix + 'a', 'x'))
    note(prefix + 'replace', g.replace(prefix + 'a', '1', '3'))
    note(prefix + 'delete', g.delete(prefix + 'b'))
    note(prefix + 'after delete', g.get(prefix + 'b'))


def lease_with_keys(c, prefix):
    lease = c.lease(60)
    c.put(prefix + 'l1', 'x', lease=lease)
    c.put(prefix + 'l2', 'y', lease=lease)
    note(prefix + 'lease keys', sorted(k.decode() for k in lease.keys))
    note(prefix + 'lease ttl', 0 < lease.remaining_ttl <= 60)
    lease.revoke()
    note(prefix + 'after revoke', c.get(prefix + 'l1')[0])


def locks(c, name):
    # Debian's python3-etcd3 0.12 cannot wait for a held lock (its retry callback does not
    # fit Debian's tenacity), so the second holder checks instead of waiting.
    first = c.lock(name, ttl=10)
    note(name + ' first', first.acquire(timeout=5))
    second = c.lock(name, ttl=10)
    note(name + ' held by the first', [first.is_acquired(), second.is_acquired()])
    note(name + ' released', first.release())
    note(name + ' second', second.acquire(timeout=5))
    note(name + ' released again', second.release())


def watch(c, prefix):
    events, cancel = c.watch_prefix(prefix)
    got = []

    def read():
        for ev in events:
            got.append([type(ev).__name__, ev.key.decode(), ev.value.decode()])
            if len(got) == 3:
                break

    reader = threading.Thread(target=read)
    reader.start()
    c.put(prefix + 'w1', 'a')
    c.put(prefix + 'w1', 'b')
    c.delete(prefix + 'w1')
    reader.join(10)
    cancel()
    note(prefix + 'watch', got)


root = grpc_client('root', 'rootpw')
app = grpc_client('app', 'apppw')
kv(app, 'app/grpc/')
lease_with_keys(app, 'app/grpc/')
locks(root, 'grpc-lock')
watch(app, 'app/grpc/')
note('grpc: read outside the role', grpc_error(lambda: app.get('secret')))
note('grpc: write outside the role', grpc_error(lambda: app.put('secret', 'x')))
note('grpc: root reads it', root.get('app/grpc/a')[0].decode())
note('grpc: wrong password', grpc_error(lambda: grpc_client('app', 'wrong')))
note('grpc: anonymous', grpc_error(lambda: grpc_client().get('app/grpc/a')))

login = gateway().post(gateway().get_url('/auth/authenticate'), json={'name': 'app', 'password': 'apppw'})
gw = gateway(login['token'])
gw_kv(gw, 'app/gw/')
lease = gw.lease(60)
note('gw: put with lease', gateway_answer(lambda: gw.put('app/gw/l1', 'x', lease=lease)))
note('gw: lease keys', sorted(lease.keys()))
note('gw: lease revoke', lease.revoke())
seen = []
waiter = threading.Thread(target=lambda: seen.append(gw.watch_once('app/gw/w', timeout=10)))
waiter.start()
while not seen and waiter.is_alive():
    gw.put('app/gw/w', 'now')
    waiter.join(0.3)
note('gw: watch_once', [seen[0]['kv']['key'].decode(), seen[0]['kv']['value'].decode()] if seen else None)
root_login = gateway().post(gateway().get_url('/auth/authenticate'), json={'name': 'root', 'password': 'rootpw'})
gw_lock = gateway(root_login['token']).lock('gw-lock', ttl=10)
note('gw: lock', gw_lock.acquire())
note('gw: lock held', gw_lock.is_acquired())
note('gw: unlock', gw_lock.release())
note('gw: read outside the role', gateway_error(lambda: gw.get('secret')))
note('gw: anonymous', gateway_error(lambda: gateway().get('app/gw/a')))
note('gw: garbage token', gateway_error(lambda: gateway('garbage').get('app/gw/a')))
note('gw: wrong password', gateway_error(
    lambda: gateway().post(gateway().get_url('/auth/authenticate'), json={'name': 'app', 'password': 'x'})))
print(json.dumps(transcript, default=lambda b: b.decode('latin-1')))
