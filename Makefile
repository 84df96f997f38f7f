# Two commands do everything on a fresh machine: `make demo` (the main job) and `make test`.
.PHONY: test demo lint control-plane bench venv

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

lint: venv
	bash scripts/lint.sh

venv:
	bash scripts/bootstrap.sh

control-plane:
	bash scripts/build-control-plane.sh

bench:
	bash scripts/bench.sh
