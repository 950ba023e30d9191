"""The ``dermcad`` command line: thin commands over the library's service functions."""
