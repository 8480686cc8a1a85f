#!/bin/sh
# Installs pyshelf into the image and checks that the server loads the plugins asked for.
#
# The INSTALL_WEB, INSTALL_CONSTRAINED, INSTALL_FINDLINKS, INSTALL_JENKINS and INSTALL_LOCKDOWN
# build arguments ("true" or "false") choose the plugins. With PYSHELF_WHEELS (a directory of
# wheels built from this repository) pyshelf's own distributions come from there; otherwise from
# the package index, at PYSHELF_VERSION when it is set. Third-party dependencies always come
# from the index (PIP_INDEX_URL).
set -eu

die() { printf 'install-pyshelf: error: %s\n' "$*" >&2; exit 1; }

# requirement DISTRIBUTION [EXTRAS]: how pip is asked for one of pyshelf's distributions.
requirement() {
	if [ -n "${PYSHELF_WHEELS:-}" ]; then
		module=$(printf '%s' "$1" | tr - _)
		found=""
		for wheel in "$PYSHELF_WHEELS/$module"-*.whl; do
			[ -e "$wheel" ] || die "no wheel of $1 in $PYSHELF_WHEELS"
			[ -z "$found" ] || die "more than one wheel of $1 in $PYSHELF_WHEELS"
			found=$wheel
		done
		printf '%s%s' "$found" "${2:-}"
	elif [ -n "${PYSHELF_VERSION:-}" ]; then
		printf '%s%s==%s' "$1" "${2:-}" "$PYSHELF_VERSION"
	else
		printf '%s%s' "$1" "${2:-}"
	fi
}

is_true() {
	case "$1" in
	1 | true | yes | on) return 0 ;;
	0 | false | no | off | "") return 1 ;;
	*) die "a build argument INSTALL_* must be true or false, not '$1'" ;;
	esac
}

set -- "$(requirement pyshelf-server '[postgresql,s3]')" "$(requirement pyshelf-client)"
wanted=""
for plugin in web constrained findlinks jenkins lockdown; do
	arg=$(printf 'INSTALL_%s' "$plugin" | tr '[:lower:]' '[:upper:]')
	choice=""
	eval "choice=\${$arg:-false}"
	if is_true "$choice"; then
		set -- "$@" "$(requirement "pyshelf-$plugin")"
		wanted="$wanted pyshelf-$plugin"
	fi
done

pip install --no-cache-dir "$@"
pip check

# The server names every plugin it loads: a plugin that failed to install or to register
# fails the build here, not at the first request.
loaded=$(pyshelf-server --version)
printf '%s\n' "$loaded"
for distribution in $wanted; do
	printf '%s\n' "$loaded" | grep -q "^$distribution " ||
		die "$distribution was asked for but pyshelf-server does not load it"
done
