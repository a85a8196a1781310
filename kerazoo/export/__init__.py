"""Exporters with measured parity, the model repository, and runtimes for every exported format."""

from kerazoo.export.evaluate import compare_formats, evaluate_artifact, format_table
from kerazoo.export.exporter import FORMATS, export_run, parity, parse_formats
from kerazoo.export.repository import new_version, versions
from kerazoo.export.runtime import Predictor, load_predictor

__all__ = [
    "FORMATS", "Predictor", "compare_formats", "evaluate_artifact", "export_run", "format_table", "load_predictor",
    "new_version", "parity", "parse_formats", "versions",
]
