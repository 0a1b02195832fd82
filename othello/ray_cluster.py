"""Ray for the --ray paths of train_alphazero.py and train_sae.py (docs/ray.md).

Only those paths import this module, and it imports Ray only when asked: the single-process
default never loads Ray. Ray is an optional install (requirements-ray.txt).
"""
import os
import socket

INSTALL = "pip install -r requirements-ray.txt"


class RaySetupError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; the message says what to do."""


def require_ray():
    """The ray module, or a RaySetupError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise RaySetupError(f"--ray needs Ray, which is not installed: {INSTALL} (or drop --ray)") from None
    return ray


def connect(address=""):
    """Join the Ray cluster at `address`; with no address ray.init()'s own rules apply
    (RAY_ADDRESS, then a cluster `ray start` began on this machine, else a new local one).
    Reuses a connection that is already open (the tests open one for all their runs)."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray's usage statistics would phone home
    target = address or os.environ.get("RAY_ADDRESS", "")
    if ":" in target and "://" not in target:
        check_listening(target)
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=True)
    except ConnectionError as error:
        raise RaySetupError(f"cannot join the Ray cluster at {target or 'auto'}: {error} (start one with "
                            "`ray start --head`, or drop --ray-address)") from None
    return ray


def check_listening(address, seconds=5.0):
    """Fail fast where nothing listens at host:port: ray.init would retry for minutes."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except (OSError, ValueError) as error:
        raise RaySetupError(f"no Ray cluster answers at {address} ({error}): start its head there with "
                            "`ray start --head`, or fix --ray-address / RAY_ADDRESS") from None


def cpus_given():
    """The CPUs Ray gave the calling task or actor (at least 1): its torch threads."""
    ray = require_ray()
    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
