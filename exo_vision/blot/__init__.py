"""blot package."""
