"""Entropy coding of the lossy mode: frozen integer tables and constriction wrappers."""

from .coder import (
    ModelBank, decode_grouped, information_bits, decode_uint32, encode_grouped, encode_uint32, new_decoder,
    new_encoder, words,
)
from .tables import (
    FREQ_BITS, TableSet, factorized_tables, gaussian_tables, log_scale_thresholds,
    quantize_pmf, scale_table,
)

__all__ = ["ModelBank", "information_bits", "decode_grouped", "decode_uint32", "encode_grouped", "encode_uint32",
           "new_decoder", "new_encoder", "words", "FREQ_BITS", "TableSet", "factorized_tables",
           "gaussian_tables", "log_scale_thresholds", "quantize_pmf", "scale_table"]
