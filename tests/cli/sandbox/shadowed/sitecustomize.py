# A program's own sitecustomize, which lambshm's must not hide.
import builtins

builtins.LAMBSHM_TEST_SHADOWED = "ran"
