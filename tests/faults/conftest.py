"""The fault suite reuses the integration suite's fixtures (pristine, hub,
the per-test watchdog, the session-end cleanup): that conftest is loaded
here under another module name and its names re-exported."""
import importlib.util
import os
import sys

_INTEG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration")
sys.path.insert(0, _INTEG)
_spec = importlib.util.spec_from_file_location("hubfs_integration_conftest",
                                               os.path.join(_INTEG, "conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
