# Everyday tasks. The Python on PATH is used unless PYTHON is set:
#   make install demo      set up and try it on the fixture books
#   make test              run the test suite

PYTHON ?= python3
LTMC ?= ltmc
DEMO_OUT ?= demo-out
DEMO_VOCAB ?= 4096

.PHONY: install demo test bench-deps bench-compression bench-speed bench-memory clean

install:
	$(PYTHON) -m pip install -e '.[test]'

demo:
	$(LTMC) encode fixtures -o $(DEMO_OUT) --vocab-size $(DEMO_VOCAB)
	$(LTMC) stats $(DEMO_OUT)
	$(LTMC) decode $(DEMO_OUT) --verify

test:
	$(PYTHON) -m pytest -q

bench-deps:
	$(PYTHON) -m pip install -e '.[bench]'

bench-compression:
	$(PYTHON) bench/compression.py

bench-speed:
	$(PYTHON) bench/speed.py

bench-memory:
	$(PYTHON) bench/memory.py

clean:
	rm -rf $(DEMO_OUT) build dist .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
