#!/bin/sh
# The pyshelf container's entrypoint. In order:
#  1. the seed's DEVPI_HOST / DEVPI_PORT / DEVPI_PASSWORD onto PYSHELF_* (DEVPI_* win when set:
#     the image sets PYSHELF_HOST and PYSHELF_PORT itself, so only DEVPI_* say what the user wants);
#  2. secrets from VAR or from the file named by VAR_FILE (never both);
#  3. no command or a leading "-option": run pyshelf-server with it; any other command is run as
#     it is, without the steps below;
#  4. started as root: make the top data directories the service user's and run everything
#     after as that user (never a chown -R over the whole store); then check that the
#     directories are writable, with a message naming the path and the fix;
#  5. first start (no SERVERDIR/.serverversion): pyshelf-init, with the root password given or a
#     generated one that pyshelf-init prints once and stores 0600 in the server directory;
#  6. later starts: pyshelf-server --migrate (unless PYSHELF_AUTO_MIGRATE=false);
#  7. exec the server, so that it is the process Docker signals.
set -eu

log() { printf 'pyshelf-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# file_env VAR: take VAR from itself or from the file named by VAR_FILE (docker secrets).
file_env() {
	var=$1
	eval "value=\${$var:-}"
	eval "file=\${${var}_FILE:-}"
	if [ -n "$value" ] && [ -n "$file" ]; then
		die "both $var and ${var}_FILE are set; set only one of them"
	fi
	if [ -n "$file" ]; then
		[ -r "$file" ] || die "${var}_FILE names $file, which cannot be read"
		value=$(cat "$file")
	fi
	unset "${var}_FILE"
	if [ -n "$value" ]; then
		export "$var=$value"
	else
		unset "$var"
	fi
}

if [ -n "${DEVPI_HOST:-}" ]; then export PYSHELF_HOST="$DEVPI_HOST"; fi
if [ -n "${DEVPI_PORT:-}" ]; then export PYSHELF_PORT="$DEVPI_PORT"; fi
: "${PYSHELF_SERVERDIR:=/app/data/server}"
: "${PYSHELF_LOGDIR:=/app/logs}"
export PYSHELF_SERVERDIR PYSHELF_LOGDIR

for secret in PYSHELF_ROOT_PASSWORD DEVPI_PASSWORD PYSHELF_DB_URL PYSHELF_METRICS_TOKEN; do
	file_env "$secret"
done
if [ -z "${PYSHELF_ROOT_PASSWORD:-}" ] && [ -n "${DEVPI_PASSWORD:-}" ]; then
	export PYSHELF_ROOT_PASSWORD="$DEVPI_PASSWORD"
fi
unset DEVPI_PASSWORD

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- pyshelf-server "$@"
fi
serving=false
if [ "$1" = pyshelf-server ]; then
	serving=true
	case " $* " in
	*" --version "* | *" --help "* | *" -h "*) serving=false ;;
	esac
fi
if [ "$serving" != true ]; then
	unset PYSHELF_ROOT_PASSWORD
	exec "$@"
fi

# Who runs the server: the service user when started as root, else whoever we are.
run_user=""
if [ "$(id -u)" = 0 ]; then
	service_user="${PYSHELF_USER:-pyshelf}"
	if id "$service_user" >/dev/null 2>&1; then
		run_user=$(id -u "$service_user")
		run_group=$(id -g "$service_user")
	fi
fi

as_user() {
	if [ -n "$run_user" ]; then
		setpriv --reuid="$run_user" --regid="$run_group" --init-groups "$@"
	else
		"$@"
	fi
}

data_dir=$(dirname "$PYSHELF_SERVERDIR")
if [ -n "$run_user" ]; then
	mkdir -p "$data_dir" "$PYSHELF_LOGDIR"
	chown "$run_user:$run_group" "$data_dir" "$PYSHELF_LOGDIR"
	if [ -d "$PYSHELF_SERVERDIR" ]; then chown "$run_user:$run_group" "$PYSHELF_SERVERDIR"; fi
fi
for dir in "$data_dir" "$PYSHELF_LOGDIR"; do
	if [ -d "$PYSHELF_SERVERDIR" ] && [ "$dir" = "$data_dir" ]; then dir=$PYSHELF_SERVERDIR; fi
	# shellcheck disable=SC2016 # expanded by the inner shell, as its $1
	if ! as_user sh -c 'mkdir -p "$1" && test -w "$1" && test -x "$1"' sh "$dir" 2>/dev/null; then
		uid=${run_user:-$(id -u)}
		gid=${run_group:-$(id -g)}
		die "$dir is not writable by uid $uid (gid $gid): make the host directory or volume" \
			"writable for it (chown $uid:$gid DIR), or run the container with --user set to" \
			"its owner"
	fi
done

for hook in "${PYSHELF_ENTRYPOINT_D:-/docker-entrypoint.d}"/*.sh; do
	if [ -x "$hook" ]; then
		log "running $hook"
		as_user "$hook"
	fi
done

if [ ! -e "$PYSHELF_SERVERDIR/.serverversion" ]; then
	if [ -e "$PYSHELF_SERVERDIR" ] && [ -n "$(ls -A "$PYSHELF_SERVERDIR")" ]; then
		die "$PYSHELF_SERVERDIR is not empty but holds no initialised server" \
			"(.serverversion is missing); move its contents away or start with an empty volume"
	fi
	log "initialising $PYSHELF_SERVERDIR"
	init_args=""
	if [ -n "${PYSHELF_MIRROR_URL:-}" ]; then init_args="--mirror-url=$PYSHELF_MIRROR_URL"; fi
	case "${PYSHELF_NO_ROOT_PYPI:-false}" in
	1 | true | yes | on) init_args="$init_args --no-root-pypi" ;;
	esac
	# Initialised beside its place and moved there when complete: a start that fails half
	# way (a database not up yet) leaves nothing that the next start would refuse.
	building="$PYSHELF_SERVERDIR.init-$$"
	rm -rf "$building"
	# pyshelf-init reads the root password from PYSHELF_ROOT_PASSWORD: it never appears in
	# an argument list.
	# shellcheck disable=SC2086 # init_args holds whole options, split on purpose
	if ! PYSHELF_SERVERDIR="$building" as_user pyshelf-init $init_args; then
		rm -rf "$building"
		die "pyshelf-init failed (above); nothing was kept, the next start tries again"
	fi
	if [ -d "$PYSHELF_SERVERDIR" ]; then rmdir "$PYSHELF_SERVERDIR"; fi
	mv "$building" "$PYSHELF_SERVERDIR"
	if [ -e "$PYSHELF_SERVERDIR/.root-password" ]; then
		log "the root password is kept in $PYSHELF_SERVERDIR/.root-password"
	fi
else
	case "${PYSHELF_AUTO_MIGRATE:-true}" in
	0 | false | no | off) ;;
	*) as_user pyshelf-server --migrate ;;
	esac
fi
unset PYSHELF_ROOT_PASSWORD

if [ -n "$run_user" ]; then
	exec setpriv --reuid="$run_user" --regid="$run_group" --init-groups "$@"
fi
exec "$@"
