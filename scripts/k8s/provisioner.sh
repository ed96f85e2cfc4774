#!/usr/bin/env bash
# The one-node cluster's volume provisioner (started by k8s.sh): every pending claim of the
# `safe-local` StorageClass gets a PersistentVolume on a world-writable directory under DIR, and a
# released volume of that class is deleted with its directory (reclaimPolicy Delete).
#   provisioner.sh KUBECTL KUBECONFIG DIR
set -uo pipefail
KUBECTL=$1
export KUBECONFIG=$2
DIR=$3
CLASS=safe-local
mkdir -p "$DIR"

provision() { # namespace claim uid size
  local pv="pv-$3" path="$DIR/$1-$2-$3"
  mkdir -p "$path" && chmod 0777 "$path"
  "$KUBECTL" apply -f - <<EOV
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  annotations: { pv.kubernetes.io/provisioned-by: safe.local/host-dir }
spec:
  capacity: { storage: $4 }
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: $CLASS
  claimRef: { namespace: $1, name: $2, uid: $3 }
  hostPath: { path: $path, type: Directory }
EOV
}

while true; do
  "$KUBECTL" get pvc -A -o jsonpath='{range .items[?(@.status.phase=="Pending")]}{.metadata.namespace} {.metadata.name} {.metadata.uid} {.spec.storageClassName} {.spec.resources.requests.storage}{"\n"}{end}' 2>/dev/null |
    while read -r ns name uid class size; do
      [ "$class" = "$CLASS" ] || continue
      "$KUBECTL" get pv "pv-$uid" >/dev/null 2>&1 || provision "$ns" "$name" "$uid" "$size"
    done
  "$KUBECTL" get pv -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name} {.spec.storageClassName} {.spec.hostPath.path}{"\n"}{end}' 2>/dev/null |
    while read -r pv class path; do
      [ "$class" = "$CLASS" ] && [ "${path#"$DIR"/}" != "$path" ] || continue
      rm -rf "$path" && "$KUBECTL" delete pv "$pv" --wait=false
    done
  sleep 2
done
