"""nanograd_llm: a GPT built from scratch in NumPy, every backward pass written by hand."""
from .models import GPT, BigramLM, GPTConfig

__version__ = "0.1.0"
__all__ = ["GPT", "GPTConfig", "BigramLM", "__version__"]
