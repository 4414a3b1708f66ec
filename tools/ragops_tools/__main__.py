# Copyright: ragops.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m ragops_tools: the command line of ragops_tools.cli."""

import sys

from ragops_tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
