# Leaves a shm object (4096 bytes) and a semaphore (value 5) behind, named as
# the test asks, for lambshm ls/rm/gc to find.
import _multiprocessing
import _posixshmem
import os
import sys

prefix = sys.argv[1]
fd = _posixshmem.shm_open(f"/{prefix}-box", os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(fd, 4096)
_multiprocessing.SemLock(1, 5, 5, f"/{prefix}-sem", False)  # SEMAPHORE, value 5, kept
print("made")
