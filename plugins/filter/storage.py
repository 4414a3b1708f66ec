# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The owner record of a data directory on the shared storage."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types


def owner_record(path):
    """The file beside a data directory that names the one host running it."""
    if not isinstance(path, string_types) or not path.startswith("/"):
        raise AnsibleFilterError(
            "owner_record: %r is not an absolute directory path" % (path,))
    directory = posixpath.normpath(path)
    if directory == "/":
        raise AnsibleFilterError("owner_record: '/' has no directory beside it to hold the record")
    parent, name = posixpath.split(directory)
    return posixpath.join(parent, ".%s.owner" % name)


class FilterModule(object):
    def filters(self):
        return {"owner_record": owner_record}
