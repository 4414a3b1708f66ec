"""Stand-in for the get-pip.py bootstrap that ansible-test downloads.

ansible-test creates its sanity virtualenvs without pip and fetches get-pip.py
from a host that is not reachable offline. This script does the same job from
the interpreter's bundled ensurepip, then installs the requested packages from
the package index. It accepts get-pip.py's arguments.
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
