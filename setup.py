# Only the C extension lives here; everything else is in pyproject.toml.
# optional=True: without a C compiler the build goes on, and ltmc.fastpath falls
# back to its pure-Python twin of the same functions (slower, same output).
from setuptools import Extension, setup

setup(ext_modules=[Extension("ltmc._fastpath", ["ltmc/_fastpath.c"], optional=True)])
