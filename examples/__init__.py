"""Examples built on stanchion: not the library, not installed with it.

`peaksale` is the story `demo.py` tells and its terminal view; `shop` is a
checkout saga over four example services and their ledger; `profiles` is a
profile update propagated to replicas through the durable task queue.
"""
