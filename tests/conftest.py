"""Test-session settings.

One OpenMP thread per process: the tests are many tiny ops, where thread hand-offs cost more
than they gain, and several tests start worker processes that would otherwise oversubscribe
a 2-core machine (measured here: the suite runs several times faster).
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
