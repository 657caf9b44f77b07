"""vad_kedro
"""

import os

# Before torch loads its OpenMP runtime: threads that wait at a barrier sleep instead of spinning.
# On a busy machine spinning threads steal the cores the working threads need (measured with
# benchmarks/thread_contention.py; see benchmarks/README.md). Set the variable to ACTIVE to opt out.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1"
