"""Put the shared layer (`layers/shared`, the `crm_points` package) on the import path.

In AWS the layer is on the functions' path; `python -m local.run` and `python -m local.cli`
import this module before `crm_points` to find it the same way.
"""

import sys

from local.dynamodb_local import ROOT

SHARED_LAYER = str(ROOT / "layers" / "shared")

if SHARED_LAYER not in sys.path:
    sys.path.insert(0, SHARED_LAYER)
