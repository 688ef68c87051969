# Only the C extension lives here; everything else is in pyproject.toml.
# optional=True: without a C compiler the build goes on, and ltmc.fastpath falls
# back to its pure-Python twin of the same functions (slower, same output).
# One module from several files, one role each (ltmc/csrc/fastpath.h says which).
from setuptools import Extension, setup

SOURCES = ["module.c", "tries.c", "pieces.c", "wordpath.c", "encode.c", "decode.c", "mining.c"]

setup(
    ext_modules=[
        Extension(
            "ltmc._fastpath",
            [f"ltmc/csrc/{name}" for name in SOURCES],
            depends=["ltmc/csrc/fastpath.h"],
            optional=True,
        )
    ]
)
