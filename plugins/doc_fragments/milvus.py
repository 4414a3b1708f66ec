# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of every ragops.stack Milvus module.
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - Address of the Milvus proxy (gRPC), as C(http://host:port) or C(https://host:port).
      - Falls back to the E(MILVUS_URI) environment variable.
    type: str
    default: http://localhost:19530
  token:
    description:
      - Credentials when Milvus authentication is on, either C(user:password) or an API key.
      - Never logged nor returned. Falls back to the E(MILVUS_TOKEN) environment variable.
    type: str
  db_name:
    description:
      - Milvus database that holds the collection.
    type: str
    default: default
  timeout:
    description:
      - Seconds to wait for the connection and for each call to the server.
    type: float
    default: 10.0
requirements:
  - pymilvus >= 2.4 (the C(MilvusClient) API) on the host that runs the module
notes:
  - An unreachable server fails with the URI in the message; the token is never part of it.
"""

    # How the partition limit (rootCoord.maxPartitionNum) is found.
    PARTITION_LIMIT = r"""
options:
  max_partitions:
    description:
      - The server's C(rootCoord.maxPartitionNum), when you want to state it rather than read it.
      - When unset, the value is read from the running server through its management
        endpoint (see O(management_url)); if that is not reachable the documented default of
        the server's version is assumed (4096 up to Milvus 2.3, 1024 from 2.4) with a warning.
      - The C(_default) partition counts against this limit.
    type: int
  management_url:
    description:
      - Base URL of the Milvus HTTP management endpoint (the one serving C(/healthz)).
      - Defaults to the host of O(uri) on port 9091.
    type: str
  etcd_root_path:
    description:
      - The server's C(etcd.rootPath), which the management endpoint requires to answer
        configuration queries.
    type: str
    default: by-dev
"""
