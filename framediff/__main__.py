"""``python -m framediff``: the same as the ``framediff`` command."""

from .cli import main

if __name__ == "__main__":
    main()
