"""The ``yolo-tfserving`` command line (thin Typer commands over the library)."""
