#!/usr/bin/env bash
# Writes prometheusrule.yaml: the rule groups of deploy/prometheus/alerts.yml, unchanged, as a
# PrometheusRule for the Prometheus Operator. Run it after every change to alerts.yml;
# tests/packaging/check_prometheusrule.py fails while the two differ.
#   deploy/kubernetes/generate-prometheusrule.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
alerts="$here/../prometheus/alerts.yml"
output="$here/prometheusrule.yaml"

if [[ $(grep -c '^groups:' "$alerts") -ne 1 ]]; then
  echo "generate-prometheusrule: $alerts: expected exactly one top-level 'groups:' line" >&2
  exit 1
fi

{
  cat <<'HEADER'
# Generated from deploy/prometheus/alerts.yml by deploy/kubernetes/generate-prometheusrule.sh:
# edit alerts.yml and rerun the script instead of editing this file.
# Your Prometheus selects rules by label (spec.ruleSelector): add the label it expects, for
# kube-prometheus-stack often `release: <helm release name>`.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: heartbeat-exporter
  labels:
    app.kubernetes.io/name: heartbeat-exporter
spec:
HEADER
  # Everything from `groups:` on, indented under spec; blank lines stay empty.
  sed -n '/^groups:/,$p' "$alerts" | sed 's/^./  &/'
} >"$output.tmp"
mv "$output.tmp" "$output"
echo "generate-prometheusrule: wrote $output" >&2
