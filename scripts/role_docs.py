"""Write each role's README.md from its meta/argument_specs.yml.

    .venv/bin/python scripts/role_docs.py [--check] [ROLE ...]

For every role under roles/ (or the ones named), renders the entry points
(short_description, description) and a table of their variables (name, type,
default, required, shortened description) between the markers
``<!-- BEGIN GENERATED -->`` and ``<!-- END GENERATED -->`` of
roles/<role>/README.md. Everything outside the markers is hand-written and
kept; a README without markers keeps its text and gets the generated part
appended. A variable without a default in the spec shows the one of the role's
defaults/main.yml.

With --check nothing is written: the roles whose README differs from what
would be written are named, and the exit status is 1.

The output depends only on the files it reads (no dates, no versions), so the
same specs always give the same READMEs. Needs PyYAML only.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # run by a python3 without PyYAML: use the project's virtualenv
    _venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if _venv_python.exists() and Path(sys.executable).resolve() != _venv_python.resolve():
        os.execv(str(_venv_python), [str(_venv_python), *sys.argv])  # noqa: S606
    sys.exit("role_docs.py needs PyYAML: run it with .venv/bin/python (make setup creates it)")

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- BEGIN GENERATED -->"
END = "<!-- END GENERATED -->"
FOOTER = (
    "Generated from meta/argument_specs.yml by scripts/role_docs.py; edit that file, then run `scripts/role_docs.py`."
)

DESCRIPTION_MAX = 120  # a variable's description: sentences are added while they fit
DESCRIPTION_CAP = 160  # ... and a longer first sentence is cut at a word
DEFAULT_MAX = 80  # characters of a default shown in the table; longer ones point to their file


class _Loader(yaml.SafeLoader):
    """Safe loader that reads Ansible's !unsafe and !vault values as plain text."""


def _tagged_text(loader, node):
    return "(vault)" if node.tag == "!vault" else loader.construct_scalar(node)


_Loader.add_constructor("!unsafe", _tagged_text)
_Loader.add_constructor("!vault", _tagged_text)


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# --- Ansible markup -------------------------------------------------------

_CODE = re.compile(r"\b(RV|[CIVOEMP])\(((?:[^)\\]|\\.)*)\)")
_BOLD = re.compile(r"\bB\(((?:[^)\\]|\\.)*)\)")
_URL = re.compile(r"\bU\(([^)]*)\)")
_LINK = re.compile(r"\bL\(([^,)]*),\s*([^)]*)\)")


def _unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def markup(text):
    """Ansible markup as Markdown: C() I() V() O() E() RV() M() P() as code, B() bold, L() U() links."""
    text = str(text).replace("HORIZONTALLINE", "")
    text = _LINK.sub(lambda m: f"[{m.group(1).strip()}]({m.group(2).strip()})", text)
    text = _URL.sub(lambda m: f"<{m.group(1).strip()}>", text)
    text = _BOLD.sub(lambda m: f"**{_unescape(m.group(1))}**", text)

    def code(match):
        value = _unescape(match.group(2))
        if match.group(1) == "P":
            value = value.split("#", 1)[0]
        return f"`{value}`"

    return _CODE.sub(code, text)


def paragraphs(description):
    if description is None:
        return []
    if isinstance(description, str):
        description = [description]
    return [" ".join(markup(item).split()) for item in description if str(item).strip()]


# --- shortening -----------------------------------------------------------


def _outside_code(text, index):
    return text.count("`", 0, index) % 2 == 0


def sentences(text):
    """Split at '. ' (and '!'/'?') followed by a capital, not inside a code span."""
    parts, start = [], 0
    for match in re.finditer(r"(?<=[.!?])\s+(?=[A-Z`*\[(])", text):
        if _outside_code(text, match.start()):
            parts.append(text[start:match.start()])
            start = match.end()
    parts.append(text[start:])
    return [part for part in parts if part]


def _cut(text, limit):
    """At most `limit` characters, cut at a space outside code spans, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = max((i for i in range(limit + 1) if i < len(text) and text[i] == " " and _outside_code(text, i)),
              default=-1)
    if cut <= 0:
        return text
    return text[:cut].rstrip(" ,;:(") + " …"


def shorten(description, limit=DESCRIPTION_MAX, cap=DESCRIPTION_CAP):
    """The first sentence of the first paragraph, and the next ones while they fit in `limit` characters.

    A first sentence longer than `cap` is cut at a word, with an ellipsis.
    """
    texts = paragraphs(description)
    if not texts:
        return ""
    kept = ""
    for sentence in sentences(texts[0]):
        candidate = f"{kept} {sentence}".strip()
        if kept and len(candidate) > limit:
            break
        kept = candidate
    return _cut(kept, cap)


# --- the table ------------------------------------------------------------


def cell(text):
    """Text for one table cell: one line, pipes escaped (also inside code spans, as GFM wants)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def type_of(spec):
    kind = spec.get("type", "str")
    if kind == "list" and spec.get("elements"):
        return f"list of {spec['elements']}"
    return kind


def show_default(value, source):
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value if value.strip() == value and value else json.dumps(value, ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    if len(text) > DEFAULT_MAX or "`" in text:
        return f"see `{source}`"
    return f"`{text}`"


def rows(options, defaults=None, prefix="", shown=None):
    """Table rows for `options`, sub-options after their parent (`parent[].sub`, `parent.sub`).

    Sub-options already listed under another variable of the table are not listed again.
    """
    lines = []
    shown = [] if shown is None else shown
    for name, given in (options or {}).items():
        spec = given or {}
        if "default" in spec:
            default = show_default(spec["default"], "meta/argument_specs.yml")
        elif defaults is not None and name in defaults:
            default = show_default(defaults[name], "defaults/main.yml")
        else:
            default = ""
        text = shorten(spec.get("description"))
        if spec.get("choices"):
            choices = ", ".join(f"`{show_choice(choice)}`" for choice in spec["choices"])
            text = f"{text} One of {choices}.".strip()
        inner = f"{prefix}{name}[]." if spec.get("type") == "list" else f"{prefix}{name}."
        same = next((where for where, other in shown if other == spec.get("options")), None)
        if spec.get("options") and same is not None:
            text = f"{text} Items: like `{same.rstrip('.')}`.".strip()
        required = "yes" if spec.get("required") else "no"
        columns = [f"`{cell(prefix + name)}`", cell(type_of(spec)), cell(default), required, cell(text)]
        lines.append("| " + " | ".join(columns) + " |")
        if spec.get("options") and same is None:
            shown.append((inner, spec["options"]))
            lines.extend(rows(spec["options"], None, inner, shown))
    return lines


def show_choice(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def role_defaults(role_dir):
    """The role's defaults: defaults/main.yml, or the files of defaults/main/ in name order."""
    single = role_dir / "defaults" / "main.yml"
    if single.is_file():
        return load_yaml(single) or {}
    merged = {}
    folder = role_dir / "defaults" / "main"
    if folder.is_dir():
        for path in sorted(folder.glob("*.yml")):
            merged.update(load_yaml(path) or {})
    return merged


def argument_specs(role_dir):
    path = role_dir / "meta" / "argument_specs.yml"
    if path.is_file():
        return (load_yaml(path) or {}).get("argument_specs")
    path = role_dir / "meta" / "main.yml"
    if path.is_file():
        return (load_yaml(path) or {}).get("argument_specs")
    return None


def generated(role, role_dir, with_title):
    """The generated part of roles/<role>/README.md, markers included."""
    specs = argument_specs(role_dir)
    defaults = role_defaults(role_dir)
    out = [BEGIN]
    if with_title:
        out += [f"# ragops.stack.{role}", ""]
    out += ["## Entry points and variables", ""]
    seen = []
    for entry, given in specs.items():
        spec = given or {}
        out += [f"### `{entry}`", ""]
        if spec.get("short_description"):
            out += [f"**{markup(spec['short_description']).rstrip('.')}.**", ""]
        for text in paragraphs(spec.get("description")):
            out += [text, ""]
        options = spec.get("options") or {}
        same = next((name for name, other in seen if other == options), None)
        if not options:
            out += ["No variables.", ""]
        elif same is not None:
            out += [f"Variables: the same as `{same}`.", ""]
        else:
            out += [
                "| variable | type | default | required | description |",
                "|---|---|---|---|---|",
                *rows(options, defaults),
                "",
            ]
        seen.append((entry, options))
    out += [
        f"Full descriptions: `ansible-doc -t role ragops.stack.{role}`. A default shown as a Jinja expression",
        "is computed from the inventory (often from a platform-wide `ragops_*` variable).",
        "",
        f"_{FOOTER}_",
        END,
    ]
    return "\n".join(out)


def render(role, role_dir, current):
    """The README for `role`, given its current text (None when there is none)."""
    if current is None or not current.strip():
        return generated(role, role_dir, with_title=True) + "\n"
    start, stop = current.find(BEGIN), current.find(END)
    if start == -1 or stop == -1 or stop < start:
        return current.rstrip("\n") + "\n\n" + generated(role, role_dir, with_title=False) + "\n"
    head, tail = current[:start], current[stop + len(END):]
    return head + generated(role, role_dir, with_title=not head.strip()) + (tail if tail.strip() else "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("roles", nargs="*", metavar="ROLE", help="roles to render (default: every role)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the stale READMEs")
    parser.add_argument("--roles-dir", type=Path, default=ROOT / "roles", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    names = args.roles or sorted(
        path.name for path in args.roles_dir.iterdir() if path.is_dir() and not path.name.startswith(".")
    )
    problems = []
    for role in names:
        role_dir = args.roles_dir / role
        if not role_dir.is_dir():
            problems.append(f"{role}: no such role in {args.roles_dir}")
            continue
        if not argument_specs(role_dir):
            problems.append(f"{role}: no argument_specs in meta/argument_specs.yml")
            continue
        readme = role_dir / "README.md"
        current = readme.read_text(encoding="utf-8") if readme.exists() else None
        wanted = render(role, role_dir, current)
        if wanted == current:
            continue
        if args.check:
            problems.append(f"{role}: README.md is {'missing' if current is None else 'stale'}")
        else:
            readme.write_text(wanted, encoding="utf-8")
            print(f"wrote {role}/README.md")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems and args.check:
        print("run .venv/bin/python scripts/role_docs.py to regenerate the role READMEs", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
