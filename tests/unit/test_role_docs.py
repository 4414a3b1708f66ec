"""scripts/role_docs.py: every role's README matches its meta/argument_specs.yml."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("role_docs", ROOT / "scripts" / "role_docs.py")
role_docs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(role_docs)

SPECS = """\
---
argument_specs:
  main:
    short_description: Does the thing
    description:
      - Writes C(/etc/thing.conf) from O(thing_items).
    options: &options
      thing_items:
        description:
          - Items to write. Each is one line of C(/etc/thing.conf). A long second sentence that will not fit into
            the table of the README however hard it tries, because it goes on and on.
        type: list
        elements: dict
        required: true
        options:
          name: {description: "Name of the item; I(unique).", type: str, required: true}
      thing_mode:
        description: "Mode V(selfsigned) or V(provided) of the C(a|b) pipe."
        type: str
        choices: [selfsigned, provided]
      thing_port:
        description: Port.
        type: int
        default: 8080
  config:
    short_description: Renders only
    options: *options
"""


def make_role(tmp_path: Path, readme: str | None = None) -> Path:
    role = tmp_path / "roles" / "thing"
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(SPECS)
    (role / "defaults" / "main.yml").write_text("---\nthing_mode: \"{{ ragops_mode | default('provided') }}\"\n")
    if readme is not None:
        (role / "README.md").write_text(readme)
    return tmp_path / "roles"


def run(roles_dir: Path, *args: str) -> int:
    return role_docs.main([*args, "--roles-dir", str(roles_dir)])


def test_every_role_readme_is_generated_from_its_argument_specs(capsys):
    status = role_docs.main(["--check"])
    assert status == 0, capsys.readouterr().err


def test_every_role_has_a_readme():
    roles = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())
    assert roles
    assert [role for role in roles if not (ROOT / "roles" / role / "README.md").is_file()] == []


def test_markup_becomes_markdown():
    text = "C(a) I(b) V(c) O(d=1) E(HOME) RV(out) M(ns.col.mod) B(bold) L(docs,https://x.invalid/) U(https://y.invalid/)"
    assert role_docs.markup(text) == (
        "`a` `b` `c` `d=1` `HOME` `out` `ns.col.mod` **bold** [docs](https://x.invalid/) <https://y.invalid/>"
    )
    assert role_docs.markup(r"C(f\(x\))") == "`f(x)`"


def test_long_descriptions_are_shortened_at_a_sentence_or_a_word():
    assert role_docs.shorten(["One. Two.", "Another paragraph."]) == "One. Two."
    long_first = "word " * 60
    short = role_docs.shorten(long_first)
    assert short.endswith(" …")
    assert len(short) <= role_docs.DESCRIPTION_CAP + 2
    assert role_docs.shorten("Uses C(a. B) here. Then more.", limit=10) == "Uses `a. B` here."


def test_new_readme_has_title_entry_points_table_and_footer(tmp_path):
    roles_dir = make_role(tmp_path)
    assert run(roles_dir, "--check") == 1
    assert run(roles_dir) == 0
    text = (roles_dir / "thing" / "README.md").read_text()
    assert text.startswith(role_docs.BEGIN + "\n# ragops.stack.thing\n")
    assert "### `main`" in text
    assert "### `config`" in text
    assert "Variables: the same as `main`." in text
    assert "| `thing_items` | list of dict |  | yes | Items to write. Each is one line of `/etc/thing.conf`. |" in text
    assert "| `thing_items[].name` | str |  | yes | Name of the item; `unique`. |" in text
    assert "| `thing_port` | int | `8080` | no | Port. |" in text
    # default from defaults/main.yml; pipes escaped for the table
    assert "`{{ ragops_mode \\| default('provided') }}`" in text
    assert "the `a\\|b` pipe. One of `selfsigned`, `provided`." in text
    assert role_docs.FOOTER in text
    assert text.rstrip().endswith(role_docs.END)
    assert run(roles_dir, "--check") == 0


def test_hand_written_text_is_kept_and_a_changed_spec_makes_the_readme_stale(tmp_path, capsys):
    hand = "# ragops.stack.thing\n\nHand-written introduction.\n"
    roles_dir = make_role(tmp_path, hand)
    assert run(roles_dir) == 0
    text = (roles_dir / "thing" / "README.md").read_text()
    assert text.startswith(hand + "\n" + role_docs.BEGIN + "\n## Entry points and variables")

    readme = roles_dir / "thing" / "README.md"
    readme.write_text(text + "\n## Notes\n\nKept too.\n")
    assert run(roles_dir, "--check") == 0

    spec = roles_dir / "thing" / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text().replace("description: Port.", "description: TCP port."))
    capsys.readouterr()
    assert run(roles_dir, "--check") == 1
    assert "thing: README.md is stale" in capsys.readouterr().err
    assert run(roles_dir) == 0
    text = readme.read_text()
    assert "| TCP port. |" in text
    assert text.startswith(hand)
    assert text.endswith("\n## Notes\n\nKept too.\n")
    assert run(roles_dir, "--check") == 0


def test_output_is_deterministic(tmp_path):
    roles_dir = make_role(tmp_path)
    first = role_docs.render("thing", roles_dir / "thing", None)
    assert role_docs.render("thing", roles_dir / "thing", None) == first
    assert role_docs.render("thing", roles_dir / "thing", first) == first


def test_a_role_without_argument_specs_fails_the_check(tmp_path, capsys):
    (tmp_path / "roles" / "bare" / "tasks").mkdir(parents=True)
    assert run(tmp_path / "roles", "--check") == 1
    assert "bare: no argument_specs" in capsys.readouterr().err


def test_markers_without_a_hand_written_part_get_the_title(tmp_path):
    roles_dir = make_role(tmp_path, textwrap.dedent(f"""\
        {role_docs.BEGIN}
        old
        {role_docs.END}
        """))
    assert run(roles_dir) == 0
    assert (roles_dir / "thing" / "README.md").read_text().startswith(role_docs.BEGIN + "\n# ragops.stack.thing\n")
