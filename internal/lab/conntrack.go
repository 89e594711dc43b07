//go:build linux

package lab

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"strconv"
	"strings"
)

// Flow is one entry of `conntrack -L`, as printed by the conntrack tool.
type Flow struct {
	Proto     string         // "udp", "tcp", "icmp", ...
	State     string         // TCP state, e.g. "ESTABLISHED"; empty otherwise
	OrigSrc   netip.AddrPort // original direction (private side)
	OrigDst   netip.AddrPort
	ReplySrc  netip.AddrPort // reply direction
	ReplyDst  netip.AddrPort // the public (translated) endpoint under NAT
	Unreplied bool
	Assured   bool
}

// Flows lists the router's conntrack table (`conntrack -L`, plus extra
// args such as "-p", "udp") and parses it.
func (l *Lab) Flows(ctx context.Context, args ...string) ([]Flow, error) {
	return flows(ctx, l.Router, args)
}

// Flows is Lab.Flows for this site's router.
func (s *Site) Flows(ctx context.Context, args ...string) ([]Flow, error) {
	return flows(ctx, s.Router, args)
}

func flows(ctx context.Context, router *NS, args []string) ([]Flow, error) {
	cmd := router.Command(ctx, "conntrack", append([]string{"-L"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	router.lab.cfg.logf("lab: run: %s", cmdline(cmd))
	out, err := cmd.Output()
	if err != nil {
		return nil, wrapCmdErr(cmd, err, stderr.Bytes())
	}
	return ParseConntrack(out), nil
}

// ParseConntrack parses the default output format of `conntrack -L`.
// Lines it does not understand are skipped.
func ParseConntrack(out []byte) []Flow {
	var flows []Flow
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f, ok := parseFlow(sc.Text()); ok {
			flows = append(flows, f)
		}
	}
	return flows
}

// tuple collects one direction's fields while parsing.
type tuple struct {
	src, dst     netip.Addr
	sport, dport uint16
}

func parseFlow(line string) (Flow, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || strings.Contains(fields[0], "=") {
		return Flow{}, false
	}
	f := Flow{Proto: fields[0]}
	var t [2]tuple
	dir := -1
	for _, field := range fields[1:] {
		dir = f.parseField(field, &t, dir)
		if dir > 1 {
			return Flow{}, false
		}
	}
	if dir != 1 || !t[0].src.IsValid() || !t[1].dst.IsValid() {
		return Flow{}, false
	}
	f.OrigSrc, f.OrigDst = t[0].endpoints()
	f.ReplySrc, f.ReplyDst = t[1].endpoints()
	return f, true
}

func (t tuple) endpoints() (src, dst netip.AddrPort) {
	return netip.AddrPortFrom(t.src, t.sport), netip.AddrPortFrom(t.dst, t.dport)
}

// parseField applies one field; dir is the tuple index (a "src=" starts a
// new tuple). It returns the new dir.
func (f *Flow) parseField(field string, t *[2]tuple, dir int) int {
	key, val, ok := strings.Cut(field, "=")
	switch {
	case field == "[UNREPLIED]":
		f.Unreplied = true
	case field == "[ASSURED]":
		f.Assured = true
	case !ok:
		if dir < 0 && isUpper(field) {
			f.State = field
		}
	case key == "src":
		dir++
		if dir <= 1 {
			t[dir].src, _ = netip.ParseAddr(val)
		}
	case dir >= 0 && dir <= 1:
		t[dir].set(key, val)
	}
	return dir
}

func (t *tuple) set(key, val string) {
	switch key {
	case "dst":
		t.dst, _ = netip.ParseAddr(val)
	case "sport":
		t.sport = parsePort(val)
	case "dport":
		t.dport = parsePort(val)
	}
}

func parsePort(s string) uint16 {
	p, _ := strconv.ParseUint(s, 10, 16)
	return uint16(p)
}

func isUpper(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return s != ""
}
