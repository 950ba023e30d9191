"""Errors shared by every stage."""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the input a user gave (a file, a flag, a configuration, a request).

    The library raises it with a message that names the file or value and the problem; the CLI
    prints ``dermcad: error: <message>`` and exits with status 2; the API answers a 4xx.
    """
