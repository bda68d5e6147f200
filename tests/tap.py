"""TAP output for the Python test drivers (meson's `protocol: 'tap'`)."""


class Tap:
    """Numbers the checks, prints `ok N - what` or `not ok N - what` and the
    last lines of the detail of a failure, and counts the failures."""

    def __init__(self, keep=40):
        self.n = self.failed = 0
        self.keep = keep

    def check(self, ok, what, detail=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}", flush=True)
        if not ok:
            self.failed += 1
            for line in str(detail).splitlines()[-self.keep:]:
                print(f"#   {line}")
        return ok

    def skip(self, what, why):
        """A check that cannot run here: `ok N - what # SKIP why`."""
        self.n += 1
        print(f"ok {self.n} - {what} # SKIP {why}", flush=True)

    def finish(self):
        """Prints the plan; returns the exit status."""
        print(f"1..{self.n}")
        return 1 if self.failed else 0
