"""Plain PyTorch / numpy implementation of causalPIMA (no kedro, no mlflow, no file I/O)."""
