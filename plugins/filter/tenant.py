# -*- coding: utf-8 -*-
# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters exposing the tenant naming rule to roles and templates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ragops.stack.plugins.module_utils import tenant as rule


def _wrap(func):
    def filter_func(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except rule.TenantError as exc:
            raise AnsibleFilterError(str(exc)) from None

    filter_func.__name__ = func.__name__
    filter_func.__doc__ = func.__doc__
    return filter_func


class FilterModule(object):
    def filters(self):
        return {
            "tenant_hex": _wrap(rule.tenant_hex),
            "tenant_uuid": _wrap(rule.tenant_uuid),
            "milvus_partition_name": _wrap(rule.milvus_partition_name),
            "postgres_partition_name": _wrap(rule.postgres_partition_name),
        }
