"""The `triton-openai` command: `serve` (the default) and `build`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from triton_openai import __version__
from triton_openai.frontend.settings import add_arguments, from_arguments
from triton_openai.launch import launcher

BUILD_FIELDS = ("model", "cache_dir", "log_level", *launcher.BUILD_FIELDS)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="triton-openai", description="OpenAI-compatible server on Triton.")
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = root.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the models through the OpenAI API (default)")
    add_arguments(serve)
    build = commands.add_parser("build", help="prepare models and render a model repository for any Triton")
    add_arguments(build, BUILD_FIELDS)
    build.add_argument("--output", required=True, type=Path, help="folder to render the repository into")
    add_user = commands.add_parser("add-user", help="add a user account (or set its password) for closed access")
    add_user.add_argument("--users-file", required=True, type=Path, help="the accounts file (created if missing)")
    add_user.add_argument("name")
    add_user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    return root


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "serve")
    args = parser().parse_args(argv)
    if args.command == "add-user":
        _add_user(args)
        return
    settings = from_arguments(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "build":
        from triton_openai.repository.cache import cache_root
        from triton_openai.repository.pipeline import build_repository

        out = build_repository(
            settings.model, args.output, cache_root(settings.cache_dir), **launcher.build_options(settings)
        )
        print(out)  # noqa: T201 - the command's result
        return
    try:
        launcher.serve(settings)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _add_user(args: argparse.Namespace) -> None:
    import getpass

    from triton_openai.frontend.users import UserStore

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    try:
        UserStore(args.users_file).add(args.name, password)
    except ValueError as exc:
        raise SystemExit(f"add-user: {exc}") from None
    print(f"user {args.name!r} saved in {args.users_file}")  # noqa: T201 - the command's result
