# pyx-auth. Which module owns what: README.md, "Layout". Imports nothing (the cache hit).
__version__ = "0.1.0"
