# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checksums of Milvus entities and of backup files, and the comparisons a restore is checked with (pure).

The PostgreSQL rows' checksum rule is SQL, in ``partition_catalog.CHECKSUM_SQL``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from ragops_tools.base import MANIFEST, BackupError


class EntityChecksum:
    """Count and order-independent checksum of Milvus entities: the sum, modulo 2**64, of the first 64 bits of
    each entity's sha256 over its scalar fields (canonical JSON) and its vector (float32, little endian)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, scalars: dict, vector: bytes) -> None:
        encoded = json.dumps(scalars, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        digest = hashlib.sha256(encoded + b"\0" + vector).digest()
        self.total = (self.total + int.from_bytes(digest[:8], "big")) % (1 << 64)
        self.count += 1

    @property
    def value(self) -> str:
        return "%016x" % self.total


def pack_vector(values, dim: int) -> bytes:
    if len(values) != dim:
        raise BackupError("a vector has %d values, the collection's dimension is %d" % (len(values), dim))
    return struct.pack("<%df" % dim, *values)


def unpack_vector(data: bytes, dim: int) -> list:
    return list(struct.unpack("<%df" % dim, data))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(tier_dir: Path) -> dict:
    """{relative path: {sha256, bytes}} of every file of a tier directory except the manifest."""
    files = {}
    for path in sorted(p for p in tier_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[path.relative_to(tier_dir).as_posix()] = dict(sha256=sha256_file(path), bytes=path.stat().st_size)
    return files


def verify_files(tier_dir: Path, manifest: dict) -> list[str]:
    """Problems of the files of a tier against its manifest (missing, resized, altered, unexpected)."""
    problems = []
    listed = manifest.get("files", {})
    for name, facts in sorted(listed.items()):
        path = tier_dir / name
        if not path.is_file():
            problems.append("%s: missing" % name)
        elif path.stat().st_size != facts["bytes"]:
            problems.append("%s: %d bytes, manifest says %d" % (name, path.stat().st_size, facts["bytes"]))
        elif sha256_file(path) != facts["sha256"]:
            problems.append("%s: sha256 differs from the manifest" % name)
    for path in sorted(p for p in tier_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        if path.relative_to(tier_dir).as_posix() not in listed:
            problems.append("%s: not in the manifest" % path.relative_to(tier_dir).as_posix())
    return problems


def compare_tenants(expected: dict, actual: dict, fields: tuple) -> list[str]:
    """Per tenant, every field of ``fields`` must match; a tenant missing on either side is a problem."""
    problems = []
    for tenant in sorted(set(expected) | set(actual)):
        if tenant not in actual:
            problems.append("%s: in the backup, missing after the restore" % tenant)
            continue
        if tenant not in expected:
            problems.append("%s: present after the restore, not in the backup" % tenant)
            continue
        for field in fields:
            if str(expected[tenant].get(field)) != str(actual[tenant].get(field)):
                problems.append("%s: %s is %s, the backup says %s"
                                % (tenant, field, actual[tenant].get(field), expected[tenant].get(field)))
    return problems
