#!/usr/bin/env bash
# Installs what the web page (web/) and its test need, idempotently: node and npm, Debian's chromium (not for
# `web-setup.sh serve`), and web/node_modules from the committed web/package-lock.json (`npm ci`, only when the
# lock file changed since the last install).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ "${1:-}" != serve ] && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then need_apt+=(chromium); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "web-setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

stamp=web/node_modules/.installed-from-package-lock.json
if ! cmp -s web/package-lock.json "$stamp"; then
  echo "web-setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  cp web/package-lock.json "$stamp"
fi
