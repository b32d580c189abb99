//go:build tools

// Package tools pins promtool (Prometheus' own rule checker and unit tester) built from this module.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
