package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{args: nil, code: exitUsage, stderr: "usage: natp2p-agent COMMAND"},
		{args: []string{"help"}, code: exitOK, stderr: "commands:"},
		{args: []string{"frobnicate"}, code: exitUsage, stderr: `unknown command "frobnicate"`},
		{args: []string{"report", "--format", "xml"}, code: exitUsage, stderr: `unknown --format "xml"`},
		{args: []string{"report", "--json", "--format", "json-line"}, code: exitUsage, stderr: "disagree"},
		{args: []string{"report", "--bogus"}, code: exitUsage, stderr: "flag provided but not defined: -bogus"},
		{args: []string{"report", "extra"}, code: exitUsage, stderr: `unexpected argument "extra"`},
		{args: []string{"run", "--mode", "enforce"}, code: exitUsage, stderr: "not available in this version"},
		{args: []string{"run", "--log-level", "loud"}, code: exitUsage, stderr: "--log-level"},
		{args: []string{"run", "--event-buffer", "10"}, code: exitUsage, stderr: "at least 4096"},
		{args: []string{"report", "--socket", "/nonexistent/agent.sock", "--wan", "nope0"}, code: exitUsage,
			stderr: `WAN interface "nope0" not found`},
		{args: []string{"version"}, code: exitOK, stdout: "natp2p-agent dev"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr: %s)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) || !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q, stderr %q; want them to contain %q and %q", stdout.String(), stderr.String(), tt.stdout, tt.stderr)
			}
			if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); tt.code == exitUsage && tt.args != nil &&
				!strings.Contains(tt.stderr, "flag provided") && n > 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, stderr.String())
			}
		})
	}
}
