"""Unpack the Milvus server from a `milvus` wheel into PREFIX/bin and PREFIX/lib.

The wheel carries the server and its libraries as .lzma files under
milvus/data/bin/. Usage: unpack-milvus-wheel.py WHEEL PREFIX
"""

import lzma
import os
import sys
import zipfile

wheel, prefix = sys.argv[1], sys.argv[2]
for sub in ("bin", "lib"):
    os.makedirs(os.path.join(prefix, sub), exist_ok=True)
with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
        if not (member.startswith("milvus/data/bin/") and member.endswith(".lzma")):
            continue
        name = os.path.basename(member)[: -len(".lzma")]
        target = os.path.join(prefix, "bin" if name == "milvus" else "lib", name)
        with archive.open(member) as packed, lzma.open(packed) as source, open(target + ".part", "wb") as out:
            while True:
                chunk = source.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        os.chmod(target + ".part", 0o755)  # noqa: S103 - executables and shared libraries
        os.replace(target + ".part", target)
print("unpacked")
