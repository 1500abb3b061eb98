"""Prints the version of a package that Bazel downloaded from the pyx index."""

import six

print(f"six {six.__version__} from the pyx index")
