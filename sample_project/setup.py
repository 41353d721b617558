"""Links libpython the way many real projects do: libraries=["python" + LDVERSION]
plus -Wl,-z,defs, and LDFLAGS/LDSHARED from the building interpreter."""

import sysconfig

from setuptools import Extension, setup

ldversion = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
libdir = sysconfig.get_config_var("LIBDIR")

setup(
    ext_modules=[
        Extension(
            "nolibpython_demo._core",
            sources=["src/nolibpython_demo/_core.c"],
            libraries=["python" + ldversion],
            library_dirs=[libdir] if libdir else [],
            extra_link_args=["-Wl,-z,defs"],
        )
    ]
)
