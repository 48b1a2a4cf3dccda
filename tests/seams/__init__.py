"""Parts written the way a contributor adds one — each a single module — used by
tests/test_seams.py to prove that registering them is the only other edit needed."""
