#!/usr/bin/env node
'use strict';
/**
 * Writes prometheus-rule.yaml, the Prometheus Operator form of deploy/prometheus/rules.yml: the same
 * groups under spec.groups. Run it after editing the rules (`node deploy/kubernetes/sync-prometheus-rule.js`);
 * test/deploy fails while the two differ.
 */
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const rulesPath = path.join(__dirname, '..', 'prometheus', 'rules.yml');
const outPath = path.join(__dirname, 'prometheus-rule.yaml');

const rules = YAML.parse(fs.readFileSync(rulesPath, 'utf8'));
const resource = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'oomwatch',
    namespace: 'oomwatch',
    labels: { 'app.kubernetes.io/name': 'oomwatch' },
  },
  spec: { groups: rules.groups },
};
const header = [
  '# Generated from deploy/prometheus/rules.yml by deploy/kubernetes/sync-prometheus-rule.js: edit the rules',
  "# there, then run the script. Add the label your Prometheus resource's ruleSelector matches",
  '# (kube-prometheus-stack: release: <its name>). The rules expect the scrape job "oomwatch", which the',
  '# ServiceMonitor of service-monitor.yaml gives.',
  '',
].join('\n');
fs.writeFileSync(outPath, header + YAML.stringify(resource, { lineWidth: 0 }));
process.stdout.write(`wrote ${path.relative(process.cwd(), outPath)}\n`);
