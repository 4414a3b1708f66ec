"""The collection_path lookup: files of the collection outside a role, named from the collection's root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError

from ansible_collections.ragops.stack.plugins.lookup.collection_path import (
    COLLECTION_ROOT,
    LookupModule,
    collection_path,
)
from tests.conftest import ROOT
from tests.unit.test_filters import message, render


def test_the_root_is_the_collection():
    assert (Path(COLLECTION_ROOT) / "galaxy.yml").is_file()
    assert Path(COLLECTION_ROOT).resolve() == ROOT.resolve()


def test_a_file_and_a_directory_with_its_trailing_slash():
    assert collection_path("requirements.txt") == os.path.join(COLLECTION_ROOT, "requirements.txt")
    assert collection_path("api") == os.path.join(COLLECTION_ROOT, "api")
    assert collection_path("api/") == os.path.join(COLLECTION_ROOT, "api") + os.sep
    assert collection_path("api//ragops_api/../pyproject.toml") == os.path.join(COLLECTION_ROOT, "api",
                                                                                "pyproject.toml")


def test_the_lookup_returns_one_path_per_term():
    assert LookupModule().run(["requirements.txt", "api/"]) == [
        os.path.join(COLLECTION_ROOT, "requirements.txt"), os.path.join(COLLECTION_ROOT, "api") + os.sep]


@pytest.mark.parametrize(("term", "rule"), [
    ("/etc/passwd", "'/etc/passwd' is absolute"),
    ("../main/README.md", "'../main/README.md' leaves the collection"),
    ("api/../..", "'api/../..' leaves the collection"),
    ("no-such-file.txt", "'no-such-file.txt' does not exist in the collection"),
    ("", "'' is not a path inside the collection"),
    (None, "None is not a path inside the collection"),
])
def test_a_path_outside_or_absent_is_refused_with_its_rule(term, rule):
    with pytest.raises(AnsibleLookupError, match="collection_path: " + rule.replace("(", r"\(")):
        collection_path(term)


def test_the_lookup_in_a_template():
    out = message(render("[lookup('ragops.stack.collection_path', 'api/'),"
                         " lookup('ansible.builtin.file', lookup('ragops.stack.collection_path', 'requirements.txt'))"
                         " is search('ansible-core')]"))
    assert Path(out[0]).resolve() == (ROOT / "api").resolve() and out[0].endswith("/")
    assert out[1] is True
