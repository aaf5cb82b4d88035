"""The durable group registry contract, for stanchion's storage backends (`actors.backends`).

A task store that can hold durable bus groups returns its `GroupRegistry`
from `group_registry()`; the bus asks the store for it, never checks its type.
"""

from actors.bus._registry import GroupRegistry, check_same_pattern, valid_groups

__all__ = ["GroupRegistry", "check_same_pattern", "valid_groups"]
