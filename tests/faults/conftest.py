"""The peers of the fault tests are the real ones of each platform's tests."""

from tests.vsphere.conftest import start_vcsim, vcsim

__all__ = ["start_vcsim", "vcsim"]
