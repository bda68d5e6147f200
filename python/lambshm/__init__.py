"""lambshm, installed from a wheel: POSIX shared memory and named semaphores
where /dev/shm is missing (AWS Lambda).  This package is a directory of
programs and libraries, not an API:

  lambshm/bin/lambshm-exec-wrapper   AWS_LAMBDA_EXEC_WRAPPER (pip install --target:
                                     /var/task/lambshm/bin/lambshm-exec-wrapper)
  lambshm/bin/lambshm                the command; `lambshm` on PATH runs it
  lambshm/lib/, lambshm/python/      what they load (README.md, docs/lambda.md)
"""
import os

HOME = os.path.dirname(os.path.abspath(__file__))
