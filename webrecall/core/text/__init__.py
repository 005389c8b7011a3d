"""From HTML to text: extraction, code-structure signals, fidelity, the BPE pre-tokenizer."""
