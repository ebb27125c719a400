"""Adapters to the authors' own packages, each behind the contract and its own optional extra.

An adapter never downloads anything at run time; when its package is missing it raises a
``ModelError`` naming the extra to install (``pip install "vcbench[NAME]"``).
"""
