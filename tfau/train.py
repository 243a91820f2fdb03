"""``python -m tfau.train METHOD [flags]``: what ``train_scripts/METHOD.py`` does."""
import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from tfau.recipes import recipe_names

    if not argv or argv[0].startswith("-"):
        print(f"usage: python -m tfau.train METHOD [flags]; methods: {', '.join(recipe_names())}"
              "\n(python -m tfau.train METHOD --help lists the flags)", file=sys.stderr)
        return 2
    if argv[0] not in recipe_names():
        print(f"unknown method {argv[0]!r}; methods: {', '.join(recipe_names())}",
              file=sys.stderr)
        return 2
    from tfau.training import main as train_main

    train_main(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
