"""Exceptions that vcbench raises for problems a user can fix.

Every message names the problem and the fix. The CLI prints these messages without a traceback.
"""

from __future__ import annotations


class VcbenchError(Exception):
    """Base class of every error vcbench raises on purpose."""


class DataContractError(VcbenchError, ValueError):
    """The input data does not satisfy the data contract (see ``vcbench.data.contract``)."""


class DatasetFileError(VcbenchError, OSError):
    """A dataset file is missing or is not a readable ``.h5ad`` file."""


class ScenarioError(VcbenchError, ValueError):
    """A scenario cannot be built from the given data, or a split violates its rules."""


class ModelError(VcbenchError, RuntimeError):
    """A model failed to fit or predict, or returned a prediction that breaks the model contract."""


class NotApplicableError(ModelError):
    """A model has no way to represent what a scenario holds out (e.g. one-hot features and an
    unseen perturbation, ``PerturbationModel.not_applicable``): the runner records the task as
    ``not_applicable`` with this reason instead of scoring it."""


class KnowledgeError(ModelError, ValueError):
    """Gene or compound knowledge cannot be used: an embedding table with unknown names, a wrong
    shape or missing values, an unreadable SMILES, a missing optional extra."""


class MetricError(VcbenchError, ValueError):
    """Predictions and truth cannot be compared (gene mismatch, missing conditions, bad values)."""


class SpecError(VcbenchError, ValueError):
    """A benchmark spec (YAML) is invalid: the message names the key and its line."""
