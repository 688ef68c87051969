# Everyday tasks. The Python on PATH is used unless PYTHON is set:
#   make install demo      set up and try it on the fixture books
#   make test              run the test suite

PYTHON ?= python3
LTMC ?= ltmc
DEMO_OUT ?= demo-out
DEMO_VOCAB ?= 4096

.PHONY: install demo test sanitize bench-deps bench-compression bench-implied bench-speed bench-memory bench-train bench-train-full bench-joining clean

install:
	$(PYTHON) -m pip install -e '.[test]'

demo:
	$(LTMC) encode fixtures -o $(DEMO_OUT) --vocab-size $(DEMO_VOCAB)
	$(LTMC) stats $(DEMO_OUT)
	$(LTMC) decode $(DEMO_OUT) --verify

test:
	$(PYTHON) -m pytest -q

# The tests that drive the C extension (ltmc/csrc/), against a build with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc); the normal build is put
# back afterwards.
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer -O1 -g
sanitize:
	CFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)" $(PYTHON) setup.py -q build_ext --inplace --force
	LD_PRELOAD=$$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		HYPOTHESIS_PROFILE=dev $(PYTHON) -m pytest -q -p no:cacheprovider tests/test_fastpath.py tests/test_codebook.py tests/test_codebook_file.py tests/test_scene_decoder.py tests/test_pipeline.py tests/test_restore.py tests/test_mining.py tests/test_corpus_counts.py tests/test_segmenting.py; \
		status=$$?; $(PYTHON) setup.py -q build_ext --inplace --force; exit $$status

bench-deps:
	$(PYTHON) -m pip install -e '.[bench]'

bench-compression:
	$(PYTHON) bench/compression.py

bench-speed:
	$(PYTHON) bench/speed.py

bench-memory:
	$(PYTHON) bench/memory.py

bench-train:  # the headline: BPE and ltmc's best positions at the FLOPs of 800 steps
	$(PYTHON) bench/train.py --steps 800 --classes frequency --class-bins 10 --arms bpe paired3-punct --lr 0.009

bench-train-full:
	$(PYTHON) bench/train.py --full

bench-implied:
	$(PYTHON) bench/implied.py

bench-joining:
	$(PYTHON) bench/joining.py --sizes 8192 32768

clean:
	rm -rf $(DEMO_OUT) build dist .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
