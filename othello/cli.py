"""Command-line flags from a config dataclass: every field becomes `--field-name`, its
default is the flag's default, and the string literal under the field is its `--help` text.

Lives in othello/ because every script imports this package anyway; it is stdlib only.
"""
import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing


def field_docs(cls) -> dict:
    """{field name: the docstring written under it} for a dataclass."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            docs[node.target.id] = following.value.value.strip()
    return docs


def require_at_least(config, minimum, *names):
    """Raise ValueError (a usage error under parse_config) naming the first of the fields
    `names` of `config` that is below `minimum`."""
    for name in names:
        if getattr(config, name) < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be at least {minimum}, got {getattr(config, name)}")


def parse_config(cls, argv=None, description=None):
    """Parse `argv` (default: sys.argv) into an instance of the dataclass `cls`.

    Booleans take `--flag` / `--no-flag`. Validation errors raised by the dataclass's
    `__post_init__` (ValueError) are reported as usage errors, without a traceback."""
    docs = field_docs(cls)
    types = typing.get_type_hints(cls)
    parser = argparse.ArgumentParser(description=description or cls.__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = types[f.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default,
                                help=docs.get(f.name, ""))
        else:
            parser.add_argument(flag, type=kind, default=f.default, help=docs.get(f.name, ""),
                                metavar=f.name.upper())
    args = parser.parse_args(argv)
    try:
        return cls(**vars(args))
    except ValueError as error:
        parser.error(str(error))
