"""CPython peer for tests/connection_interop.rs.

Usage:
  mp_peer.py client ADDRESS AUTHKEY_HEX   connect, exchange, exit 0 (3 on AuthenticationError)
  mp_peer.py listen ADDRESS AUTHKEY_HEX   print the bound address, accept one client, exchange
  mp_peer.py listen_digest ADDRESS AUTHKEY_HEX DIGEST
                                          as listen, but the listener runs the handshake by
                                          hand, challenging with DIGEST (CPython's
                                          deliver_challenge(..., digest_name=DIGEST), 3.12+)

ADDRESS is "host:port" for TCP (port 0 = any), anything else is an AF_UNIX path or, with a
leading "@", a Linux abstract name.
"""
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener, answer_challenge, deliver_challenge

VERSION = "%d.%d" % sys.version_info[:2]


def parse(addr):
    if addr.startswith("@"):
        return "\0" + addr[1:]
    host, sep, port = addr.rpartition(":")
    if sep and port.isdigit() and "/" not in addr:
        return (host, int(port))
    return addr


def show(addr):
    if isinstance(addr, tuple):
        return "%s:%d" % addr
    if isinstance(addr, bytes):
        addr = addr.decode()
    if addr.startswith("\0"):
        return "@" + addr[1:]
    return addr


def exchange_as_client(c):
    c.send_bytes(b"hello from python " + VERSION.encode())
    m = c.recv_bytes()
    c.send_bytes(m[::-1])
    big = c.recv_bytes()
    c.send_bytes(str(len(big)).encode() + b":" + big[:16])


def exchange_as_server(c):
    m = c.recv_bytes()
    c.send_bytes(b"python " + VERSION.encode() + b" got " + m)
    big = c.recv_bytes()
    c.send_bytes(big[::-1])


def main():
    mode, addr, key = sys.argv[1], parse(sys.argv[2]), bytes.fromhex(sys.argv[3])
    try:
        if mode == "client":
            with Client(addr, authkey=key) as c:
                exchange_as_client(c)
        elif mode == "listen_digest":
            with Listener(addr) as l:
                print(show(l.address), flush=True)
                with l.accept() as c:
                    deliver_challenge(c, key, digest_name=sys.argv[4])
                    answer_challenge(c, key)
                    exchange_as_server(c)
        else:
            with Listener(addr, authkey=key) as l:
                print(show(l.address), flush=True)
                with l.accept() as c:
                    exchange_as_server(c)
    except AuthenticationError as e:
        print("AUTH_ERROR", e, flush=True)
        sys.exit(3)


main()
