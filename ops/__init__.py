"""Operations: run the whole system locally, container health checks, smoke checks, and the
model registry commands (`python -m ops --help`)."""
