"""Stands in for pip's get-pip.py when ansible-test bootstraps pip.

ansible-test creates each sanity test's virtual environment without pip, then
downloads get-pip.py from ci-files.testing.ansible.com, which CI cannot reach
(only the package registries are). This script does the same job from what is
here: the interpreter's own ensurepip, then `pip install` of the pinned
packages ansible-test asks for, from PyPI. .ci/run copies it to
$HOME/.ansible/test/cache/get_pip_<version>.py, where ansible-test looks first.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
