"""Whether a revision names fixed content, and whether text names a hub repository: shared by
the code, config and command-line readers of model and dataset references."""

from __future__ import annotations

import re

HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_SHORT_COMMIT = re.compile(r"^(?=.*[a-fA-F])[0-9a-fA-F]{7,39}$")
COMMIT_FIX = "<40-hex commit>"


def revision_problem(revision: str) -> str | None:
    """Why a revision string does not name fixed content, or None when it does."""
    if HEX40.match(revision):
        return None
    if _SHORT_COMMIT.match(revision):
        return f"{revision!r}, an abbreviated commit (name the full 40 hex digits)"
    return f"{revision!r}, a branch or tag that can move"


_HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_MODEL_FILE = re.compile(
    r"\.(?:bin|pt|pth|ckpt|safetensors|onnx|h5|keras|pkl|json|ya?ml|txt|gguf|zip|gz|tar|model)$",
    re.IGNORECASE,
)
_LOCAL_HEADS = frozenset(
    {"checkpoints", "checkpoint", "ckpt", "ckpts", "outputs", "output", "artifacts", "models",
     "saved_models", "saved_model", "runs", "results", "tmp", "weights", "local", "data"}
)  # fmt: skip
API_PROVIDERS = frozenset(
    {"openai", "anthropic", "azure", "azure_ai", "bedrock", "vertex_ai", "gemini", "cohere",
     "ollama", "groq", "together_ai", "mistral", "deepseek", "fireworks_ai", "replicate",
     "sagemaker", "openrouter", "perplexity", "xai", "litellm", "hosted_vllm", "databricks"}
)  # fmt: skip
"""Prefixes of LLM API model names (``openai/gpt-4o`` in a LiteLLM config): a service's model,
not a repository to pin."""


def hub_repository(value: str, directories: frozenset[str] = frozenset()) -> bool:
    """True for text that reads as a hub repository ``owner/name`` (``facebook/opt-6.7b``):
    not a path in the repository (``directories``), a file, a local-looking directory or an
    API provider's model name. Written in config or on a command line, a single word
    (``gpt2``) is far more often a local choice than a hub id, so one is required."""
    text = value.strip()
    if not _HUB_REPO.match(text) or ".." in text or _MODEL_FILE.search(text):
        return False
    head = text.split("/", 1)[0].lower()
    return head not in _LOCAL_HEADS and head not in API_PROVIDERS and text not in directories


__all__ = ["API_PROVIDERS", "COMMIT_FIX", "HEX40", "hub_repository", "revision_problem"]
