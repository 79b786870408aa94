"""nodelib: the library of the course *Neural ODEs from First Principles*."""

from nodelib.device import available_devices, choose_device, seed_everything

__version__ = "0.1.0"

__all__ = ["available_devices", "choose_device", "seed_everything"]
