"""A minimal NFSv4.1 client (RFC 8881 over ONC RPC, AUTH_SYS), standard library only.

The userspace client Debian ships (libnfs 4.0, ``nfs-ls``/``nfs-cp``) speaks NFSv4.0 only, and
the test machines have no kernel NFS client, so the verifier needs its own 4.1 client to reach an
export that refuses minor version 0. It does just what the tests need, as a given uid/gid, from
the host it runs on (the server checks that host's address against its client list):

    python3 nfs41.py SERVER mkdir  /export/rag-data/milvus --owner 901 --group 901 --mode 0750
    python3 nfs41.py SERVER --uid 901 --gid 901 write /export/rag-data/milvus/f "text"
    python3 nfs41.py SERVER --uid 901 --gid 901 read  /export/rag-data/milvus/f
    python3 nfs41.py SERVER stat /export/rag-data/milvus/f

Prints one JSON object; exit status 0 on success, 3 on an NFS error (the object names the
operation and the NFS4ERR_* status), 4 when the connection fails.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time

PROGRAM, VERSION, COMPOUND = 100003, 4, 1
AUTH_NONE, AUTH_SYS = 0, 1

OP_CLOSE, OP_CREATE, OP_GETATTR, OP_GETFH, OP_LOOKUP, OP_OPEN = 4, 6, 9, 10, 15, 18
OP_PUTFH, OP_PUTROOTFH, OP_READ, OP_WRITE = 22, 24, 25, 38
OP_EXCHANGE_ID, OP_CREATE_SESSION, OP_SEQUENCE, OP_RECLAIM_COMPLETE = 42, 43, 53, 58

FATTR4_TYPE, FATTR4_SIZE, FATTR4_MODE, FATTR4_OWNER, FATTR4_OWNER_GROUP = 1, 4, 33, 36, 37
NF4DIR = 2
FILE_SYNC4 = 2

ERRORS = {
    1: "NFS4ERR_PERM", 2: "NFS4ERR_NOENT", 13: "NFS4ERR_ACCESS", 17: "NFS4ERR_EXIST",
    10008: "NFS4ERR_DELAY", 10013: "NFS4ERR_GRACE", 10016: "NFS4ERR_WRONGSEC",
    10021: "NFS4ERR_MINOR_VERS_MISMATCH", 10063: "NFS4ERR_SEQ_MISORDERED", 10066: "NFS4ERR_REP_TOO_BIG",
}
RETRY = {10008, 10013}  # DELAY, GRACE (a server that just started)


class NfsError(Exception):
    def __init__(self, op: int, status: int):
        super().__init__(f"op {op}: {ERRORS.get(status, status)}")
        self.op, self.status = op, status


class Packer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u32(self, value: int) -> Packer:
        self.parts.append(struct.pack(">I", value))
        return self

    def u64(self, value: int) -> Packer:
        self.parts.append(struct.pack(">Q", value))
        return self

    def fixed(self, data: bytes) -> Packer:
        self.parts.append(data + b"\0" * (-len(data) % 4))
        return self

    def opaque(self, data: bytes) -> Packer:
        return self.u32(len(data)).fixed(data)

    def string(self, text: str) -> Packer:
        return self.opaque(text.encode())

    def bitmap(self, attrs: list[int]) -> Packer:
        words = [0] * (max(attrs) // 32 + 1) if attrs else []
        for attr in attrs:
            words[attr // 32] |= 1 << (attr % 32)
        self.u32(len(words))
        for word in words:
            self.u32(word)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class Unpacker:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u32(self) -> int:
        (value,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return value

    def u64(self) -> int:
        (value,) = struct.unpack_from(">Q", self.data, self.pos)
        self.pos += 8
        return value

    def fixed(self, size: int) -> bytes:
        data = self.data[self.pos:self.pos + size]
        self.pos += size + (-size % 4)
        return data

    def opaque(self) -> bytes:
        return self.fixed(self.u32())

    def bitmap(self) -> list[int]:
        return [self.u32() for _index in range(self.u32())]


def fattr(mode: int | None = None, owner: str | None = None, group: str | None = None) -> bytes:
    """fattr4 with the given attributes, values in attribute-number order."""
    attrs, values = [], Packer()
    if mode is not None:
        attrs.append(FATTR4_MODE)
        values.u32(mode)
    if owner is not None:
        attrs.append(FATTR4_OWNER)
        values.string(owner)
    if group is not None:
        attrs.append(FATTR4_OWNER_GROUP)
        values.string(group)
    return Packer().bitmap(attrs).opaque(values.bytes()).bytes()


class Client:
    def __init__(self, server: str, uid: int, gid: int, port: int = 2049, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((server, port), timeout=timeout)
        self.uid, self.gid = uid, gid
        self.xid = int.from_bytes(os.urandom(4), "big")
        self.session = b""
        self.slot_seq = 0

    # ONC RPC with record marking (RFC 5531).
    def _call(self, body: bytes) -> Unpacker:
        self.xid = (self.xid + 1) & 0xFFFFFFFF
        cred = Packer().u32(0).string(socket.gethostname()[:255]).u32(self.uid).u32(self.gid).u32(0).bytes()
        header = (Packer().u32(self.xid).u32(0).u32(2).u32(PROGRAM).u32(VERSION).u32(COMPOUND)
                  .u32(AUTH_SYS).opaque(cred).u32(AUTH_NONE).opaque(b"").bytes())
        message = header + body
        self.sock.sendall(struct.pack(">I", 0x80000000 | len(message)) + message)
        reply = b""
        last = False
        while not last:
            (mark,) = struct.unpack(">I", self._recv(4))
            last = bool(mark & 0x80000000)
            reply += self._recv(mark & 0x7FFFFFFF)
        u = Unpacker(reply)
        if u.u32() != self.xid or u.u32() != 1:
            raise ConnectionError("unexpected RPC reply")
        if u.u32() != 0:
            raise ConnectionError("RPC call denied")
        u.u32()
        u.opaque()  # verifier
        accept = u.u32()
        if accept != 0:
            raise ConnectionError(f"RPC call not accepted ({accept})")
        return u

    def _recv(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("connection closed by the server")
            data += chunk
        return data

    def compound(self, ops: list[tuple[int, bytes]], sequence: bool = True) -> Unpacker:
        """Send one COMPOUND, retrying while the server is in grace; return the results after the last op's status."""
        for _index in range(60):
            args = list(ops)
            if sequence:
                self.slot_seq += 1
                args.insert(0, (OP_SEQUENCE, Packer().fixed(self.session).u32(self.slot_seq).u32(0).u32(0)
                                .u32(0).bytes()))
            body = Packer().string("").u32(1).u32(len(args))
            for op, data in args:
                body.u32(op).fixed(data)
            u = self._call(body.bytes())
            status = u.u32()
            u.opaque()  # tag
            count = u.u32()
            if status in RETRY:
                time.sleep(1)
                continue
            results = []
            for _index in range(count):
                op, op_status = u.u32(), u.u32()
                results.append((op, op_status))
                if op_status != 0:
                    raise NfsError(op, op_status)
                if op == OP_SEQUENCE:
                    u.fixed(16)
                    for _index in range(5):
                        u.u32()
                elif op != args[len(results) - 1][0]:
                    raise ConnectionError(f"reply for op {op} out of order")
                elif len(results) < count:
                    self._skip(op, u)
            if status != 0:
                raise NfsError(results[-1][0] if results else 0, status)
            return u
        raise NfsError(ops[-1][0], 10013)

    @staticmethod
    def _skip(op: int, u: Unpacker) -> None:
        """Step over the result of an op that is not the last of its compound."""
        if op == OP_GETFH:
            u.opaque()
        elif op == OP_OPEN:
            u.fixed(16 + 20)
            u.u32()
            u.bitmap()
            delegation = u.u32()
            if delegation == 3:  # OPEN_DELEGATE_NONE_EXT
                if u.u32() in (4, 5):
                    u.u32()
            elif delegation != 0:
                raise ConnectionError("unexpected delegation")
        elif op == OP_WRITE:
            u.u32()
            u.u32()
            u.fixed(8)
        elif op == OP_CREATE:
            u.fixed(20)
            u.bitmap()
        elif op not in (OP_PUTROOTFH, OP_PUTFH, OP_LOOKUP, OP_RECLAIM_COMPLETE):
            raise ConnectionError(f"cannot skip the result of op {op}")

    def start(self) -> None:
        owner = f"ragops-nfs41-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}".encode()
        u = self.compound([(OP_EXCHANGE_ID, Packer().fixed(os.urandom(8)).opaque(owner).u32(0).u32(0).u32(0)
                            .bytes())], sequence=False)
        clientid, sequenceid = u.u64(), u.u32()
        channel = Packer().u32(0).u32(1048576).u32(1048576).u32(4096).u32(16).u32(1).u32(0).bytes()
        u = self.compound([(OP_CREATE_SESSION, Packer().u64(clientid).u32(sequenceid).u32(0).fixed(channel)
                            .fixed(channel).u32(0x40000000).u32(1).u32(AUTH_NONE).bytes())], sequence=False)
        self.session = u.fixed(16)
        self.clientid = clientid
        self.compound([(OP_RECLAIM_COMPLETE, Packer().u32(0).bytes())])

    @staticmethod
    def walk(path: str) -> list[tuple[int, bytes]]:
        ops = [(OP_PUTROOTFH, b"")]
        ops += [(OP_LOOKUP, Packer().string(name).bytes()) for name in path.strip("/").split("/") if name]
        return ops

    def mkdir(self, path: str, mode: int, owner: str | None, group: str | None) -> None:
        parent, name = path.rstrip("/").rsplit("/", 1)
        create = Packer().u32(NF4DIR).string(name).fixed(fattr(mode, owner, group)).bytes()
        self.compound([*self.walk(parent), (OP_CREATE, create)])

    def open(self, path: str, create: bool) -> tuple[bytes, bytes]:
        parent, name = path.rsplit("/", 1)
        how = Packer().u32(1).u32(0).fixed(fattr(0o640)).bytes() if create else Packer().u32(0).bytes()
        args = (Packer().u32(0).u32(3 if create else 1).u32(0).u64(self.clientid).opaque(b"ragops-test")
                .fixed(how).u32(0).string(name).bytes())
        u = self.compound([*self.walk(parent), (OP_OPEN, args)])
        stateid = u.fixed(16)
        u = self.compound([*self.walk(path), (OP_GETFH, b"")])
        return stateid, u.opaque()

    def close(self, fh: bytes, stateid: bytes) -> None:
        self.compound([(OP_PUTFH, Packer().opaque(fh).bytes()), (OP_CLOSE, Packer().u32(0).fixed(stateid).bytes())])

    def write(self, path: str, data: bytes) -> int:
        stateid, fh = self.open(path, create=True)
        u = self.compound([(OP_PUTFH, Packer().opaque(fh).bytes()),
                           (OP_WRITE, Packer().fixed(stateid).u64(0).u32(FILE_SYNC4).opaque(data).bytes())])
        count = u.u32()
        self.close(fh, stateid)
        return count

    def read(self, path: str) -> bytes:
        stateid, fh = self.open(path, create=False)
        data, eof = b"", False
        while not eof:
            u = self.compound([(OP_PUTFH, Packer().opaque(fh).bytes()),
                               (OP_READ, Packer().fixed(stateid).u64(len(data)).u32(65536).bytes())])
            eof = bool(u.u32())
            data += u.opaque()
        self.close(fh, stateid)
        return data

    def stat(self, path: str) -> dict:
        attrs = [FATTR4_TYPE, FATTR4_SIZE, FATTR4_MODE, FATTR4_OWNER, FATTR4_OWNER_GROUP]
        u = self.compound([*self.walk(path), (OP_GETATTR, Packer().bitmap(attrs).bytes())])
        returned = u.bitmap()
        v = Unpacker(u.opaque())
        result = {}
        for attr in sorted(attrs):
            if attr // 32 < len(returned) and returned[attr // 32] & (1 << (attr % 32)):
                if attr == FATTR4_SIZE:
                    result["size"] = v.u64()
                elif attr in (FATTR4_OWNER, FATTR4_OWNER_GROUP):
                    result["owner" if attr == FATTR4_OWNER else "group"] = v.opaque().decode()
                else:
                    value = v.u32()
                    result["type" if attr == FATTR4_TYPE else "mode"] = value if attr == FATTR4_TYPE else f"{value:04o}"
        return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server")
    parser.add_argument("--uid", type=int, default=0)
    parser.add_argument("--gid", type=int, default=0)
    parser.add_argument("--port", type=int, default=2049)
    sub = parser.add_subparsers(dest="command", required=True)
    mkdir = sub.add_parser("mkdir")
    mkdir.add_argument("path")
    mkdir.add_argument("--mode", default="0755")
    mkdir.add_argument("--owner")
    mkdir.add_argument("--group")
    write = sub.add_parser("write")
    write.add_argument("path")
    write.add_argument("data")
    sub.add_parser("read").add_argument("path")
    sub.add_parser("stat").add_argument("path")
    args = parser.parse_args(argv)

    result: dict = {"command": args.command, "uid": args.uid}
    try:
        client = Client(args.server, args.uid, args.gid, args.port)
        client.start()
        if args.command == "mkdir":
            client.mkdir(args.path, int(args.mode, 8), args.owner, args.group)
        elif args.command == "write":
            result["written"] = client.write(args.path, args.data.encode())
        elif args.command == "read":
            result["data"] = client.read(args.path).decode(errors="replace")
        else:
            result.update(client.stat(args.path))
    except NfsError as error:
        result.update(error=ERRORS.get(error.status, str(error.status)), status=error.status, op=error.op)
        print(json.dumps(result))
        return 3
    except (OSError, ConnectionError) as error:
        result.update(error=f"connection: {error}")
        print(json.dumps(result))
        return 4
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
