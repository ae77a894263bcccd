# The two commands of the README: `make demo` and `make test`.
# Python 3.11 runs Django 5.2 LTS; Python 3.12 runs Django 6.1.

# The first interpreter of each version that runs (a pyenv shim may exist and still refuse).
find_python = $(shell for p in python$(1) $$(pyenv root 2>/dev/null)/versions/$(1).*/bin/python$(1); do \
	"$$p" -c "" 2>/dev/null && { command -v "$$p"; break; }; done)
PYTHON311 ?= $(call find_python,3.11)
PYTHON312 ?= $(call find_python,3.12)
# The install walk uses the newest interpreter README claims, 3.13, when there is one.
PYTHON313 ?= $(or $(call find_python,3.13),$(PYTHON312))
VENV := .venv
VENV61 := .venv-django61
PGHOST ?= 127.0.0.1
BROWSER_PACKAGES := chromium chromium-driver

.PHONY: demo worker beat test test-django52 test-django61 test-install browser lint bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	@test -n "$(PYTHON311)" || { echo "Python 3.11 is needed for Django 5.2 (pyenv install 3.11)"; exit 1; }
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

# SQLite and tasks run in-process; with DATABASE_URL and REDIS_URL set, PostgreSQL,
# Redis and real Celery processes (`make worker` and `make beat` in other terminals).
demo: $(VENV)/.installed
	$(VENV)/bin/python manage.py migrate --noinput
	$(VENV)/bin/python manage.py seed_shop
	$(VENV)/bin/python manage.py demo_staff
	$(VENV)/bin/python manage.py runserver 127.0.0.1:8000

worker: $(VENV)/.installed
	@test -n "$$REDIS_URL" || { echo "make worker needs REDIS_URL (and DATABASE_URL), e.g. redis://127.0.0.1:6379/0"; exit 1; }
	$(VENV)/bin/celery -A example_shop worker --loglevel=INFO

# Beat keeps its schedule state in a file of its own, outside the repository.
beat: $(VENV)/.installed
	@test -n "$$REDIS_URL" || { echo "make beat needs REDIS_URL (and DATABASE_URL), e.g. redis://127.0.0.1:6379/0"; exit 1; }
	$(VENV)/bin/celery -A example_shop beat --loglevel=INFO --schedule=$${TMPDIR:-/tmp}/example_shop-celerybeat-schedule

test: lint test-django52 test-django61 test-install

test-django52: $(VENV)/.installed browser
	TEST_DATABASE=sqlite $(VENV)/bin/pytest -q
	TEST_DATABASE=postgres PGHOST=$(PGHOST) $(VENV)/bin/pytest -q

test-django61: $(VENV61)/.installed browser
	TEST_DATABASE=sqlite $(VENV61)/bin/pytest -q
	TEST_DATABASE=postgres PGHOST=$(PGHOST) $(VENV61)/bin/pytest -q

# A new shop installs the wheel as README says, once (tests/test_install.py).
test-install: $(VENV)/.installed
	PRIVACY_KIT_INSTALL_TEST=1 INSTALL_PYTHON=$(PYTHON313) PGHOST=$(PGHOST) $(VENV)/bin/pytest -q tests/test_install.py

# The browser tests drive Debian's Chromium through its chromedriver.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BROWSER_PACKAGES); \
	else \
		echo "The browser tests need /usr/bin/chromium and /usr/bin/chromedriver:"; \
		echo "  sudo apt-get update && sudo apt-get install -y $(BROWSER_PACKAGES)"; \
		exit 1; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The peer libraries bench/peers.py measures (the bench extra), in the Django 5.2 venv only.
$(VENV)/.bench-installed: $(VENV)/.installed setup.cfg
	$(VENV)/bin/pip install --quiet "Django>=5.2,<5.3" -e ".[dev,bench]"
	touch $@

bench: $(VENV)/.bench-installed
	$(VENV)/bin/python bench/fields.py
	$(VENV)/bin/python bench/blind_index.py
	$(VENV)/bin/python bench/consent.py
	$(VENV)/bin/python bench/purge.py
	$(VENV)/bin/python bench/admin.py
	$(VENV)/bin/python bench/rights.py
	$(VENV)/bin/python bench/keys.py
	$(VENV)/bin/python bench/rotation.py
	$(VENV)/bin/python bench/peers.py
	$(VENV)/bin/python bench/envelope.py --postgres
	$(VENV)/bin/python bench/admin_login.py
	$(VENV)/bin/python bench/import_ciphertext.py

clean:
	rm -rf $(VENV) $(VENV61) .venv-install build dist *.sqlite3 .hypothesis .mypy_cache .ruff_cache
