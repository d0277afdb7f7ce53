import logging

# diffusers logs a warning per model construction in tiny configs; keep test output readable.
logging.getLogger("diffusers").setLevel(logging.ERROR)
