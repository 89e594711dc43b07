package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
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
		{args: []string{"report", "--bogus"}, code: exitUsage,
			stderr: "natp2p-agent: report: flag provided but not defined: -bogus (see 'natp2p-agent report -h')"},
		{args: []string{"run", "--pin-quota"}, code: exitUsage, stderr: "flag needs an argument: -pin-quota"},
		{args: []string{"run", "-h"}, code: exitUsage, stderr: "-pin-quota pins"},
		{args: []string{"report", "extra"}, code: exitUsage, stderr: `unexpected argument "extra"`},
		{args: []string{"run", "--mode", "fix"}, code: exitUsage, stderr: `unknown mode "fix" (use observe or enforce)`},
		{args: []string{"run", "--mode", "enforce", "--backend", "pf"}, code: exitUsage, stderr: `unknown backend "pf"`},
		{args: []string{"run", "--mode", "enforce", "--udp-timeout", "30"}, code: exitUsage, stderr: `--udp-timeout: "30": want seconds from 120`},
		{args: []string{"run", "--log-level", "loud"}, code: exitUsage, stderr: "--log-level"},
		{args: []string{"run", "--event-buffer", "10"}, code: exitUsage, stderr: `--event-buffer: "10": want bytes from 4096`},
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
				!slices.Contains(tt.args, "-h") && n > 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, stderr.String())
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("config natp2p 'main'\n\toption mode 'observe'\n\toption wan 'eth0.2'\n"), 0o600)
	os.WriteFile(bad, []byte("config natp2p 'main'\n\toption mode 'enforce'\n\toption udp_timeout '30'\n"), 0o600)
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"check-config", "--config", good}, exitOK, good + ": ok (mode observe, WAN eth0.2, log level info)", ""},
		{[]string{"check-config", "--config", good, "--wan", "eth1"}, exitOK, "WAN eth1", ""},
		{[]string{"check-config", "--config", bad}, exitUsage, "", bad + ": line 3: option udp_timeout: \"30\": want seconds from 120"},
		{[]string{"check-config", "--config", filepath.Join(dir, "missing")}, exitUsage, "", "no such file"},
		{[]string{"check-config", "--config", good, "--log-level", "loud"}, exitUsage, "", "--log-level"},
		{[]string{"check-config", "--config", good, "--probe-netns-addr", "192.168.1.x"}, exitUsage, "",
			`--probe-netns-addr: "192.168.1.x" is not an IPv4 address`},
		{[]string{"check-config", "--config", good, "--probe-netns=false", "--probe-netns-addr", "192.168.1.254"}, exitOK, "ok", ""},
		{[]string{"check-config", "--config", good, "--lan", "br-lan,eth0.2"}, exitUsage, "",
			good + ": the WAN eth0.2 is among the LAN interfaces (lan)"},
		{[]string{"check-config", "--config", good, "--wan", "br-lan", "--lan", "br-lan"}, exitUsage, "", "the WAN br-lan is among the LAN"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tt.args, &stdout, &stderr); code != tt.code ||
			!strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}

func TestReportFromBadSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	os.WriteFile(path, []byte(`{"schema":"natp2p.report/v1"}`), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"report", "--from", path}, &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), `schema "natp2p.report/v1", want "natp2p.snapshot/v1"`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
