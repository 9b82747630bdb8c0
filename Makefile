.PHONY: demo test lint

SIZE ?= standard

demo:  ## set up, migrate, seed and serve the demo on http://127.0.0.1:8000 (SQLite, no servers); SIZE=small|standard|full
	SIZE=$(SIZE) ./scripts/demo.sh

test:  ## set up and run the whole suite (PostgreSQL/Redis when found, else SQLite with explicit skips)
	./scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
