from .bigram import BigramLM
from .gpt import GPT, GPTConfig

__all__ = ["BigramLM", "GPT", "GPTConfig"]
