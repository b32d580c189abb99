//go:build tools

// Package tools pins the tofu command built from this module.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
