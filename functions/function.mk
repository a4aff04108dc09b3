# The one build recipe for every function (SAM `BuildMethod: makefile`), and the Lambda target
# the layer builds for too: python3.13 on arm64, cross-built on any machine, no Docker and no
# local Python 3.13 needed (pip fetches manylinux2014_aarch64 wheels and never compiles).
#
# SAM copies a CodeUri folder to a scratch directory and runs
# `make --makefile <that folder>/Makefile build-<LogicalId>` there, so a function's Makefile
# includes this file by a path relative to its own location, and the recipe works on the
# scratch copy (the working directory). A function's Makefile may set, before the include:
#   SHIP := <files or folders>   shipped beside the code as they are (enrich_payment: reference)
# PIP is overridable (tests/template/test_package.py sets PIP=true to skip the install).
PIP ?= python3 -m pip
LAMBDA_WHEELS := --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 \
  --only-binary=:all:
SHIP ?=

# One pattern rule serves every function's logical ID (build-ProcessObjectFunction, ...); a
# requirements.txt of comments only installs nothing.
build-%Function:
	cp *.py "$(ARTIFACTS_DIR)/"
	$(if $(strip $(SHIP)),cp -R $(SHIP) "$(ARTIFACTS_DIR)/")
	if grep -qv '^\s*#' requirements.txt; then \
	  $(PIP) install --quiet --no-compile -r requirements.txt --target "$(ARTIFACTS_DIR)" \
	    $(LAMBDA_WHEELS); \
	fi
