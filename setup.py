"""The hub's one C extension (hub.files._resident_block, the fast path of resident imports); everything
else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hub.files._resident_block",
            ["hub/files/resident_block.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
        )
    ]
)
