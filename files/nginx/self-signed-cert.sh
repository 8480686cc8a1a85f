#!/bin/sh
# Run by the nginx image at start (/docker-entrypoint.d/): makes a self-signed certificate for
# PYSHELF_TLS_NAME the first time, so that HTTPS works at once. Replace the two files with a
# real certificate and key; they are never overwritten.
set -eu
dir=${PYSHELF_CERT_DIR:-/etc/nginx/certs}
name=${PYSHELF_TLS_NAME:-localhost}
if [ -s "$dir/pyshelf.crt" ] && [ -s "$dir/pyshelf.key" ]; then
	exit 0
fi
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
	-subj "/CN=$name" -addext "subjectAltName=DNS:$name" \
	-keyout "$dir/pyshelf.key.new" -out "$dir/pyshelf.crt.new" 2>/dev/null
mv "$dir/pyshelf.key.new" "$dir/pyshelf.key"
chmod 0644 "$dir/pyshelf.crt.new"
mv "$dir/pyshelf.crt.new" "$dir/pyshelf.crt"
echo "self-signed-cert: made a self-signed certificate for $name in $dir"
