# The two commands of the README: `make demo` and `make test`.
# Python 3.11 runs Django 5.2 LTS; Python 3.12 runs Django 6.1.

PYTHON311 ?= $(shell command -v python3.11 || command -v python3)
PYTHON312 ?= $(shell command -v python3.12 || ls -d $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
VENV := .venv
VENV61 := .venv-django61
PGHOST ?= 127.0.0.1

.PHONY: demo test test-django52 test-django61 lint bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON311) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet "Django>=5.2,<5.3" -e ".[dev]"
	touch $@

$(VENV61)/.installed: setup.cfg pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 is needed for Django 6.1 (pyenv install 3.12)"; exit 1; }
	$(PYTHON312) -m venv $(VENV61)
	$(VENV61)/bin/pip install --quiet --upgrade pip
	$(VENV61)/bin/pip install --quiet "Django>=6.1,<6.2" -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python manage.py migrate --noinput
	$(VENV)/bin/python manage.py runserver 127.0.0.1:8000

test: lint test-django52 test-django61

test-django52: $(VENV)/.installed
	TEST_DATABASE=sqlite $(VENV)/bin/pytest -q
	TEST_DATABASE=postgres PGHOST=$(PGHOST) $(VENV)/bin/pytest -q

test-django61: $(VENV61)/.installed
	TEST_DATABASE=sqlite $(VENV61)/bin/pytest -q
	TEST_DATABASE=postgres PGHOST=$(PGHOST) $(VENV61)/bin/pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/fields.py

clean:
	rm -rf $(VENV) $(VENV61) *.sqlite3 .hypothesis .mypy_cache .ruff_cache
