#!/usr/bin/env bash
# ansible-test sanity for the collection. ansible-test needs the collection at
# .../ansible_collections/ragops/stack, so the tracked files are copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${RAGOPS_SANITY_VENV:-$root/.cache/sanity-venv}
dest=$root/.cache/sanity/ansible_collections/ragops/stack
[ -x "$venv/bin/ansible-test" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$(grep '^ansible-core==' requirements.txt)"
}
# ansible-test bootstraps pip in its test virtualenvs with a downloaded
# get-pip.py; offline, a stand-in from ensurepip takes its place.
pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
text = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([^']+)'", text).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp scripts/get_pip_offline.py ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
rm -rf "$dest"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' \
  | xargs -0 -I{} cp --parents -P {} "$dest"/
# Collections the plugins import from, next to this one as ansible-test expects.
site=$("$root/.venv/bin/python" -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__file__) if ansible_collections.__file__ else list(ansible_collections.__path__)[0])')
dep=community/postgresql
mkdir -p "$(dirname "$root/.cache/sanity/ansible_collections/$dep")"
rm -rf "$root/.cache/sanity/ansible_collections/$dep"
cp -r "$site/$dep" "$root/.cache/sanity/ansible_collections/$dep"
command -v shellcheck >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
cd "$dest"
git init -q . && git add -A >/dev/null  # ansible-test lists files through git
PATH=$venv/bin:$PATH "$venv/bin/ansible-test" sanity --python 3.11 --color no "$@"
