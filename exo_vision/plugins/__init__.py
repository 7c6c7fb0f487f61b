"""napari side of exo_vision: readers, writers, sample data and widgets (the only GUI code)."""
