#!/usr/bin/python3
# SPDX-License-Identifier: MIT
#
# An AES-XTS that is not ours, for the stordom tests: Python's `cryptography`
# (OpenSSL underneath, but its own XTS driving and tweak construction).
# Sector i of IN is processed with the dm-crypt plain64 tweak IV + i*STEP
# (little-endian, 16 bytes), as dm-crypt and LUKS do.
#
#   xts-ref.py enc|dec KEYFILE SECTOR_SIZE IV STEP IN OUT [SKIP]
#     KEYFILE: raw key bytes (32 or 64), or hex when it ends in .hex
#     SKIP: bytes of IN to skip first (e.g. a LUKS data offset)
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def main():
    op, keyfile, ss, iv, step, src, dst = sys.argv[1:8]
    skip = int(sys.argv[8]) if len(sys.argv) > 8 else 0
    with open(keyfile, "rb") as f:
        key = f.read()
    if keyfile.endswith(".hex"):
        key = bytes.fromhex(key.decode().replace(":", "").replace(" ", "").strip())
    ss, iv, step = int(ss), int(iv), int(step)
    with open(src, "rb") as f:
        f.seek(skip)
        data = f.read()
    if len(data) % ss:
        sys.exit("input is not a whole number of sectors")
    out = bytearray()
    for i in range(0, len(data), ss):
        tweak = (iv + (i // ss) * step).to_bytes(16, "little")
        c = Cipher(algorithms.AES(key), modes.XTS(tweak))
        x = c.encryptor() if op == "enc" else c.decryptor()
        out += x.update(data[i:i + ss]) + x.finalize()
    with open(dst, "wb") as f:
        f.write(out)


main()
