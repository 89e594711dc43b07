package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/natp2p/natp2p/probe/introducer"
	"github.com/natp2p/natp2p/probe/probetest"
	"github.com/natp2p/natp2p/probe/stun"
)

var addr = netip.MustParseAddr

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := cli(context.Background(), []string{"version"}, &out, &out); code != 0 || out.String() != "natp2p-introducer dev\n" {
		t.Errorf("version: exit %d, output %q", code, out.String())
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want introducer.Config
		err  string
	}{
		{name: "defaults", args: []string{"--primary", "203.0.113.10", "--alternate", "203.0.113.11"},
			want: introducer.Config{Primary: addr("203.0.113.10"), Alternate: addr("203.0.113.11"), Port: 3478,
				AltPort: 3479, TCP: true, Rate: 50, Burst: 100, MaxSources: 65536, SummaryEvery: time.Minute,
				Software: "natp2p-introducer", TCPConns: 1024, TCPConnsPerSource: 8, TCPLife: 10 * time.Second,
				TCPRequests: 16}},
		{name: "everything", args: []string{"-primary=2001:db8::1", "--port=5000", "--alt-port=5001", "--tcp=false",
			"--rate=-1", "--burst=3", "--max-sources=10", "--summary=5s", "--software=x", "--log-level=DEBUG",
			"--global-rate=500", "--tcp-conns=20", "--tcp-conns-per-source=2", "--tcp-life=3s", "--tcp-requests=4"},
			want: introducer.Config{Primary: addr("2001:db8::1"), Port: 5000, AltPort: 5001, Rate: -1, Burst: 3,
				MaxSources: 10, SummaryEvery: 5 * time.Second, Software: "x", GlobalRate: 500, TCPConns: 20,
				TCPConnsPerSource: 2, TCPLife: 3 * time.Second, TCPRequests: 4}},
		{name: "no primary", args: nil, err: "--primary IP is required"},
		{name: "bad IP", args: []string{"--primary", "203.0.113"}, err: `invalid value "203.0.113" for flag -primary`},
		{name: "port 0", args: []string{"--primary", "203.0.113.10", "--port", "0"}, err: "ports must be 1-65535"},
		{name: "port too big", args: []string{"--primary", "203.0.113.10", "--alt-port", "65536"}, err: "ports must be 1-65535"},
		{name: "unknown flag", args: []string{"--primary", "203.0.113.10", "--nope"}, err: "flag provided but not defined: -nope"},
		{name: "stray argument", args: []string{"--primary", "203.0.113.10", "serve"}, err: `unexpected argument "serve"`},
		{name: "infinite global rate", args: []string{"--primary", "203.0.113.10", "--global-rate", "inf"},
			err: "--global-rate +Inf is not a number of replies per second"},
		{name: "no TCP connections", args: []string{"--primary", "203.0.113.10", "--tcp-conns", "0"},
			err: "--tcp-conns 0: must be at least 1"},
		{name: "negative per source", args: []string{"--primary", "203.0.113.10", "--tcp-conns-per-source", "-1"},
			err: "--tcp-conns-per-source -1: must be at least 1"},
		{name: "no life", args: []string{"--primary", "203.0.113.10", "--tcp-life", "0s"}, err: "--tcp-life 0s: must be positive"},
		{name: "no requests", args: []string{"--primary", "203.0.113.10", "--tcp-requests", "0"},
			err: "--tcp-requests 0: must be at least 1"},
		{name: "log level", args: []string{"--primary", "203.0.113.10", "--log-level", "loud"}, err: `unknown --log-level "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, &bytes.Buffer{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("parseFlags: %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts := []cmp.Option{cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreFields(introducer.Config{}, "Logger")}
			if diff := cmp.Diff(tt.want, got, opts...); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBanner checks the start-up lines against golden text.
func TestBanner(t *testing.T) {
	full := introducer.Config{Primary: addr("203.0.113.10"), Alternate: addr("203.0.113.11"), Port: 3478, AltPort: 3479, TCP: true}
	four := []netip.AddrPort{netip.MustParseAddrPort("203.0.113.10:3478"), netip.MustParseAddrPort("203.0.113.10:3479"),
		netip.MustParseAddrPort("203.0.113.11:3478"), netip.MustParseAddrPort("203.0.113.11:3479")}
	tests := []struct {
		name     string
		cfg      introducer.Config
		degraded bool
		addrs    []netip.AddrPort
		want     string
	}{
		{name: "two addresses", cfg: full, addrs: four, want: `natp2p-introducer dev: RFC 5780 NAT behaviour discovery server
  udp+tcp 203.0.113.10:3478     primary address, primary port
  udp+tcp 203.0.113.10:3479     primary address, alternate port
  udp+tcp 203.0.113.11:3478     alternate address, primary port
  udp+tcp 203.0.113.11:3479     alternate address, alternate port
  rate limit: 50 requests/s per source, burst 100, at most 65536 sources tracked
  global bound: 10000 UDP replies/s in total
  tcp: at most 8 connections per source, 1024 in all, each for 10s and 16 requests
`},
		{name: "degraded", cfg: introducer.Config{Primary: addr("203.0.113.10"), Rate: -1}, degraded: true,
			addrs: four[:1], want: `natp2p-introducer dev: STUN Binding server (RFC 8489)
  udp     203.0.113.10:3478     primary address, primary port
  DEGRADED single-IP mode (no --alternate): no OTHER-ADDRESS, CHANGE-REQUEST gets 420;
  clients learn their mapped address but cannot classify NAT mapping or filtering (RFC 5780 section 6)
  rate limit: off
  global bound: off
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s, err := introducer.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			banner(&out, s.Config(), tt.degraded, tt.addrs)
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("banner (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExitStatus: bad flags and bind failures exit 2 with one line.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad flag", []string{"--primary", "x"}, `natp2p-introducer: invalid value "x" for flag -primary`},
		{"cannot bind", []string{"--primary", "192.0.2.1"}, "natp2p-introducer: listen udp4 192.0.2.1:3478: bind: cannot assign requested address"},
		{"bad config", []string{"--primary", "0.0.0.0"}, "natp2p-introducer: Primary 0.0.0.0: need a unicast address"},
		{"bad limit", []string{"--primary", "192.0.2.1", "--tcp-life", "-1s"}, "natp2p-introducer: --tcp-life -1s: must be positive"},
		{"help", []string{"-h"}, "usage: natp2p-introducer --primary IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli(context.Background(), tt.args, &stdout, &stderr)
			lines := strings.Count(stderr.String(), "\n")
			if code != 2 || !strings.HasPrefix(stderr.String(), tt.want) || (tt.name != "help" && lines != 1) {
				t.Errorf("exit %d, stderr (%d lines):\n%s\nwant 2 and a line starting %q", code, lines, stderr.String(), tt.want)
			}
		})
	}
}

// lockedBuffer is a goroutine-safe stdout.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServe runs the command on loopback, asks it for a mapping, and
// stops it as SIGINT would: exit 0.
func TestServe(t *testing.T) {
	for attempt := 0; ; attempt++ {
		p, _ := probetest.PickPorts()
		if serveOn(t, p) || attempt == 10 {
			return
		}
	}
}

// serveOn runs the command on ports p and p+1; false if they were taken.
func serveOn(t *testing.T, p uint16) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	args := []string{"--primary", "127.0.0.1", "--alternate", "127.0.0.2", "--port", fmt.Sprint(p),
		"--alt-port", fmt.Sprint(p + 1), "--log-level", "warn"}
	code := make(chan int, 1)
	go func() { code <- cli(ctx, args, &stdout, &stderr) }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stdout.String(), "rate limit"); {
		select {
		case c := <-code:
			if strings.Contains(stderr.String(), "address already in use") {
				return false
			}
			t.Fatalf("exit %d: %s", c, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner; stderr: %s", stderr.String())
		}
	}
	checkAnswers(t, netip.AddrPortFrom(addr("127.0.0.2"), p+1))
	cancel()
	if c := <-code; c != 0 || stderr.String() != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", c, stderr.String())
	}
	return true
}

func checkAnswers(t *testing.T, to netip.AddrPort) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := stun.Message{Type: stun.TypeBindingRequest, TransactionID: stun.NewTransactionID()}
	c.Write(req.Marshal(true))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stun.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if mapped, _, err := m.Mapped(); err != nil || mapped != c.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("mapped %v, %v", mapped, err)
	}
}
