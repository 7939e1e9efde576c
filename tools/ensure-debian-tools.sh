#!/usr/bin/env bash
# Installs the Debian packages gpuform's tests run for real, when any is missing.
# Idempotent and quiet when everything is present; needs root (as CI and dev machines are).
set -euo pipefail

# cdktf-cli from npm (runs on Node 20): tests run `cdktf deploy`/`destroy` against the stand-in
# OCI provider (tests/test_cdktf_deploy.py).
if ! command -v cdktf >/dev/null && command -v npm >/dev/null; then
  echo "installing cdktf-cli@0.21 from npm"
  CHECKPOINT_DISABLE=1 npm install -g --silent --no-fund --no-audit cdktf-cli@0.21 >/dev/null
fi

need=()
command -v cloud-init >/dev/null || need+=(cloud-init)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v mdadm >/dev/null || need+=(mdadm)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
# A kernel as a process, with md and raid0: localdisk.sh's RAID tests run in it where the host
# kernel has no md (tests/uml.py).
command -v linux.uml >/dev/null || need+=(user-mode-linux)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v ip >/dev/null || need+=(iproute2)
command -v ssh >/dev/null || need+=(openssh-client)
command -v parallel-ssh >/dev/null || need+=(pssh)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
