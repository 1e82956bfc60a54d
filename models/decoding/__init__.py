"""CTC decoding of the recogniser's outputs: best path, or a lexicon beam search with the domain's language model."""
