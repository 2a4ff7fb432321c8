"""Entropy coding of the lossy mode: frozen integer tables and constriction wrappers."""

from .coder import (
    ModelBank, decode_escapes, decode_grouped, encode_escapes, encode_grouped, escape_bits,
    information_bits, new_decoder, new_encoder, words,
)
from .tables import (
    FREQ_BITS, TableSet, factorized_tables, log_scale_thresholds, mixture_tables, quantize_pmf,
    scale_table,
)

__all__ = ["ModelBank", "information_bits", "decode_grouped", "decode_escapes", "encode_grouped",
           "encode_escapes", "escape_bits", "new_decoder", "new_encoder", "words", "FREQ_BITS",
           "TableSet", "factorized_tables", "log_scale_thresholds", "mixture_tables",
           "quantize_pmf", "scale_table"]
