"""`python -m sfemulator serve ...`"""

from sfemulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
