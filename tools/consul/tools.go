//go:build tools

// Package tools pins github.com/hashicorp/consul (built with `go build
// github.com/hashicorp/consul`) in this module.
package tools

import _ "github.com/hashicorp/consul"
