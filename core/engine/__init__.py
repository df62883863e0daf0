"""The engine process: everything that runs only inside it."""
