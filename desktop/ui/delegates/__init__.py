"""Item delegates that paint list rows: conversations and message bubbles."""
