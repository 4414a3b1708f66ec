# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Absolute paths of files shipped inside this collection, for the roles that install them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: collection_path
version_added: 0.1.0
short_description: The absolute path of a file or directory inside the ragops.stack collection
description:
  - Returns, on the controller, the absolute path of each term below the root of the collection (the directory
    that holds C(galaxy.yml)), wherever the collection is installed.
  - Lets a role name the collection's own files outside its role directory, such as the reference API
    (C(api/)) or the client library pins (C(requirements.txt)), without climbing out of C(role_path).
  - A trailing slash of a term is kept, so that M(ansible.builtin.copy) copies a directory's content.
  - Fails on an absolute term, on a term that leaves the collection (C(..)), and on a path that does not exist.
options:
  _terms:
    description: Paths relative to the root of the collection.
    type: list
    elements: str
    required: true
author:
  - ragops.stack maintainers (@ragops)
"""

EXAMPLES = r"""
- name: Copy the reference API source
  ansible.builtin.copy:
    src: "{{ lookup('ragops.stack.collection_path', 'api/') }}"
    dest: /opt/ragops/src/api/
    mode: u=rwX,go=rX

- name: Read the client library pins
  ansible.builtin.debug:
    msg: "{{ lookup('ansible.builtin.file', lookup('ragops.stack.collection_path', 'requirements.txt')) }}"
"""

RETURN = r"""
_raw:
  description: One absolute path on the controller per term.
  type: list
  elements: path
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.plugins.lookup import LookupBase

# plugins/lookup/collection_path.py -> the collection's root.
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collection_path(term, root=COLLECTION_ROOT):
    """The absolute path of ``term`` below ``root``; refuses a term that is absolute, leaves root, or is absent."""
    if not isinstance(term, string_types) or not term.strip():
        raise AnsibleLookupError("collection_path: %r is not a path inside the collection" % (term,))
    term = to_text(term)
    if os.path.isabs(term):
        raise AnsibleLookupError("collection_path: '%s' is absolute; give a path relative to the collection's root"
                                 % term)
    relative = os.path.normpath(term)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        raise AnsibleLookupError("collection_path: '%s' leaves the collection (%s)" % (term, root))
    path = root if relative == os.curdir else os.path.join(root, relative)
    if not os.path.exists(path):
        raise AnsibleLookupError("collection_path: '%s' does not exist in the collection (%s)" % (term, path))
    return path + os.sep if term.endswith("/") and path != os.sep else path


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [collection_path(term) for term in terms]
