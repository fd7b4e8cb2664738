#!/usr/bin/env bash
# The software Vulkan driver (Mesa lavapipe) that Dawn — the WebGPU backend's engine — needs on a
# machine without a GPU. Stock bookworm Mesa (22) is rejected by Dawn; bookworm-backports has Mesa 25.
set -euo pipefail
if dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q bpo; then
  exit 0
fi
if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
