.PHONY: lint test test-fast format
lint:
	ruff check . && ruff format --check .
format:
	ruff check --fix . && ruff format .
test:
	python -m pytest
# the edit-test loop: no real weights/data/training, no HTTP server, no browser (CI runs everything: make test)
test-fast:
	python -m pytest -m "not slow and not server and not browser"
