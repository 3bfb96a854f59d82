#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# A deliberately rude NBD client for stordom's integration test: checks that
# each malformed request gets the NBD error the protocol asks for, or a clean
# hang-up, and never a crash or a hang.   nbd-raw.py SOCKET
import socket
import struct
import sys

SOCK = sys.argv[1]
IHAVEOPT = 0x49484156454F5054
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    fails += 0 if cond else 1


def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def connect(go=True):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(SOCK)
    g = recvn(s, 18)
    assert g[:16] == b"NBDMAGICIHAVEOPT"
    s.sendall(struct.pack(">I", 3))
    if go:
        body = struct.pack(">IH", 0, 0)
        s.sendall(struct.pack(">QII", IHAVEOPT, 7, len(body)) + body)
        while True:
            _, _, typ, ln = struct.unpack(">QIII", recvn(s, 20))
            recvn(s, ln)
            if typ == 1:
                break
            assert typ == 3, typ
    return s


def req(s, typ, off, ln, flags=0, cookie=42, data=b""):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, off, ln) + data)


def simple_reply(s):
    magic, err, cookie = struct.unpack(">IIQ", recvn(s, 16))
    assert magic == 0x67446698
    return err, cookie


def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


s = connect()
req(s, 0, 1, 4096)
check(simple_reply(s) == (22, 42), "unaligned READ -> EINVAL")
req(s, 0, 1 << 40, 4096)
check(simple_reply(s)[0] == 22, "READ past the end -> EINVAL")
req(s, 1, 1 << 40, 4096, data=b"x" * 4096)
check(simple_reply(s)[0] == 28, "WRITE past the end -> ENOSPC (data consumed)")
req(s, 0, 0, 4096, flags=0x40)
check(simple_reply(s)[0] == 22, "unknown command flag -> EINVAL")
req(s, 99, 0, 0)
check(simple_reply(s)[0] == 22, "unknown command -> EINVAL")
req(s, 0, 0, 64 << 20)
check(simple_reply(s)[0] == 22, "READ over the length cap -> EINVAL")
req(s, 0, 0, 4096, cookie=7)
err, cookie = simple_reply(s)
check(err == 0 and cookie == 7 and len(recvn(s, 4096)) == 4096, "a good READ still works after")
req(s, 1, 0, 0x7FFFFFFF)
check(closed(s), "WRITE over the cap -> hang-up")
s = connect()
s.sendall(b"\xde\xad" * 14)
check(closed(s), "bad request magic -> hang-up")
s = connect(go=False)
s.sendall(struct.pack(">QII", IHAVEOPT, 7, 1 << 30))
check(closed(s), "option length 1 GiB -> hang-up")
s = connect(go=False)
body = struct.pack(">I", 4) + b"nope" + struct.pack(">H", 0)
s.sendall(struct.pack(">QII", IHAVEOPT, 7, len(body)) + body)
_, _, typ, ln = struct.unpack(">QIII", recvn(s, 20))
check(typ == 0x80000006, "GO unknown export -> NBD_REP_ERR_UNKNOWN")
s.sendall(struct.pack(">QII", IHAVEOPT, 2, 0))
_, _, typ, ln = struct.unpack(">QIII", recvn(s, 20))
check(typ == 1 and closed(s), "ABORT -> ACK and hang-up")
s = connect(go=False)
s.sendall(b"\x00" * 7)
s.shutdown(socket.SHUT_WR)
check(closed(s), "truncated option then EOF -> hang-up")
sys.exit(1 if fails else 0)
