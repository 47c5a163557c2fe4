# The two commands a newcomer needs (see README.md): `make demo` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh), from a cache on re-runs.

STACK ?= examples/leapfrog.yaml
LEAPFROG = .venv/bin/leapfrog

.PHONY: demo down test check lint types layers bootstrap bench

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	@scripts/demo-prepare.sh $(STACK)
	@$(LEAPFROG) -f $(STACK) down >/dev/null
	@$(LEAPFROG) -f $(STACK) up -d
	@scripts/demo-tour.sh $(STACK)

down: bootstrap
	@$(LEAPFROG) -f $(STACK) down

test: bootstrap
	@scripts/test.sh

bench: bootstrap
	@.venv/bin/python bench/up_many.py
	@.venv/bin/python bench/catalog.py
	@.venv/bin/python bench/components_up.py
