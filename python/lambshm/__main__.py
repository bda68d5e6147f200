"""`lambshm` on PATH (pip's launcher) and `python3 -m lambshm`: the command of
this package, which finds the libraries beside it from its own path."""
import os
import sys


def main():
    program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "lambshm")
    os.execv(program, [program] + sys.argv[1:])


if __name__ == "__main__":
    main()
