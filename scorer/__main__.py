import os
import sys

# Idle OpenMP threads should sleep, not spin: on a shared or busy machine spinning threads make a
# 2-thread XGBoost fit ten times slower. Must be set before XGBoost loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import main  # noqa: E402

sys.exit(main())
