#!/usr/bin/env bash
# Installs the benchmark peers from Debian packages: NATS server (JetStream), Redis and
# PostgreSQL 15. Idempotent: a package already installed is not fetched again. A peer that
# fails to install is reported as skipped (the bench then skips it; it is never estimated).
# The Debian packages' own services are not used: the bench starts each server itself, on
# 127.0.0.1 and a free port, with its data in a temporary directory.
#
#   bench/peers/install.sh            (as root, or via sudo)
#
# Prints one line per peer: "<peer> installed <binary>" or "<peer> skipped <reason>".
set -u

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install.sh: not root and no sudo; cannot install packages" >&2
  fi
fi

export DEBIAN_FRONTEND=noninteractive
updated=0
fresh=""

ensure() { # ensure <peer> <binary> <package...>
  local peer=$1 bin=$2; shift 2
  if [ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1; then
    echo "$peer installed $bin"; return 0
  fi
  if [ "$updated" -eq 0 ]; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    updated=1
  fi
  # --no-install-recommends keeps the image small; policy-rc.d-less containers may fail to
  # start the packaged service, which we do not want anyway (we run our own instances).
  if $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && { [ -x "$bin" ] || command -v "$bin" >/dev/null 2>&1; }; then
    fresh="$fresh $peer"
    echo "$peer installed $bin"
  else
    echo "$peer skipped apt-get install $* failed"
  fi
}

ensure jetstream nats-server nats-server
ensure redis redis-server redis-server
ensure postgres /usr/lib/postgresql/15/bin/postgres postgresql-15

# A fresh install may have started the packaged service; the bench never uses it. Only
# services installed by this very run are stopped (an existing one may be someone's).
for peer in $fresh; do
  case $peer in
    redis) svc=redis-server ;;
    postgres) svc=postgresql ;;
    jetstream) svc=nats-server ;;
  esac
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
exit 0
