# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: collection_files
author: ragops.stack maintainers
version_added: "0.1.0"
short_description: Files of the ragops.stack collection itself, on the controller
description:
  - Returns the controller paths of the collection's own files that match shell patterns relative to the
    collection's root, such as the C(tools/ragops_tools) package that the common role installs on the hosts.
  - A role finds those files wherever the collection is installed, without climbing out of its own directory.
  - A pattern that matches no file, or that leaves the collection, is an error.
options:
  _terms:
    description: Shell patterns (C(*), C(?), C([...])), relative to the collection's root.
    type: list
    elements: str
    required: true
notes:
  - Symbolic links inside the collection are returned as they are; M(ansible.builtin.copy) copies what they point to.
"""

EXAMPLES = r"""
- name: Copy the ragops_tools package
  ansible.builtin.copy:
    src: "{{ item }}"
    dest: "/opt/ragops/tools/src/ragops_tools/{{ item | basename }}"
    mode: "0644"
  loop: "{{ lookup('ragops.stack.collection_files', 'tools/ragops_tools/*.py', wantlist=True) }}"
"""

RETURN = r"""
_raw:
  description: Absolute paths of the matching files, sorted within each pattern, in the order of the patterns.
  type: list
  elements: path
"""

import glob
import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.lookup import LookupBase

# plugins/lookup/collection_files.py -> the collection's root.
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_files(pattern, root=COLLECTION_ROOT):
    """The files of the collection matching ``pattern``; raise AnsibleLookupError for none or outside it."""
    if not pattern or os.path.isabs(pattern) or ".." in pattern.replace("\\", "/").split("/"):
        raise AnsibleLookupError("collection_files: %r is not a pattern relative to the collection's root"
                                 " (rule: no leading /, no ..)" % (pattern,))
    found = sorted(path for path in glob.glob(os.path.join(root, pattern)) if os.path.isfile(path))
    if not found:
        raise AnsibleLookupError("collection_files: no file of the collection at %s matches %r" % (root, pattern))
    return found


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        result = []
        for term in terms:
            result.extend(collection_files(to_native(term)))
        return result
