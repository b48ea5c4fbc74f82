.PHONY: lint test format
lint:
	ruff check . && ruff format --check .
format:
	ruff check --fix . && ruff format .
test:
	python -m pytest
