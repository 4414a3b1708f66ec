# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ragops_tools: the programs of ragops.stack that run on the hosts, outside Ansible.

Today that is ragops-backup: backups, retention, restores and the backup metrics,
and the Milvus copy of a migration. ``python -m ragops_tools --config FILE
COMMAND`` with the tools virtualenv (psycopg 3 and pymilvus); the roles run it
through one inventory variable, ``ragops_tools_command``. One program for every
host: each host backs up the tiers it holds (``tiers`` in the configuration),
into the same backup directory on the shared storage:

    <root>/{daily,weekly,monthly}/<id>/postgres/   pg_dump -Fc per database (or pg_basebackup) + manifest.json
    <root>/{daily,weekly,monthly}/<id>/milvus/     every partition's entities + manifest.json

A tier's ``manifest.json`` is written last: a tier directory without it is an
unfinished or failed backup. Weekly and monthly copies are hard links of the
daily files (no extra space).

One module per job:

    cli            the command line (``__main__``), list/verify/retention/live/copy-milvus
    backup         the backup command          restore        the restore command
    ids            ids, classes, retention     manifest       the backup tree on disk
    checksums      entity and file checksums   metrics        the node exporter textfile
    postgres       the PostgreSQL tier (root)  pg_helper      its actions as the postgres OS user
    milvus         client, schema, scans       milvus_backup  the Milvus tier's backup and restore
    milvus_copy    the migration's copy        system         processes, accounts, the host lock
    base           constants and errors

The tenant naming rule (``tenant``) and the PostgreSQL catalog queries with the
rows' checksum rule (``partition_catalog``) are not copies: in the repository
both are relative symlinks to the collection's ``plugins/module_utils/tenant.py``
and ``partition_catalog.py``, the one implementation the modules use, as the
API's ``ragops_api/naming.py`` is. Both are plain Python without an Ansible
import, which is what lets a program outside Ansible load them; a unit test
keeps it so. Copying the package onto a host (roles/common) follows the links,
so the host gets the same files' contents. ``module_utils/postgres.py`` and
``milvus.py`` import Ansible and are not used here: the Milvus collection is
re-created from the schema recorded in a backup (any fields, indexes and
tenancy), which the milvus_collection module, built for its own options, does not do.

The pure functions (ids, retention, checksums, manifests, metrics) are
unit-tested from tests/unit/test_backup.py; the rest talks to the servers.
"""

__version__ = "0.1.0"
