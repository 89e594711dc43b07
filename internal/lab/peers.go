//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ErrMissingTool: a real peer (coturn, stund) is not installed.
var ErrMissingTool = errors.New("lab: tool not installed")

// STUNPort and STUNAltPort are where the lab's STUN servers listen, on
// both server addresses.
const (
	STUNPort    = 3478
	STUNAltPort = 3479
)

// listenWait bounds how long a server may take to bind.
const listenWait = 5 * time.Second

// CoturnArgs is the command line of coturn's turnserver as the lab's RFC
// 5780 server: STUN only, both server addresses, ports 3478 and 3479.
// Debian's /etc/turnserver.conf turns RFC 5780 off, hence -n (no config
// file); --pidfile and --db keep its files in dir.
func CoturnArgs(dir string) []string {
	return []string{"turnserver", "-n", "--stun-only", "--no-auth", "--no-cli", "--no-tls", "--no-dtls",
		"--listening-ip", serverAddrs[0].String(), "--listening-ip", serverAddrs[1].String(),
		"--listening-port", fmt.Sprint(STUNPort), "--alt-listening-port", fmt.Sprint(STUNAltPort),
		"--log-file", "stdout", "--simple-log", "--pidfile", filepath.Join(dir, "turnserver.pid"),
		"--db", filepath.Join(dir, "turndb")}
}

// TURNPort is where the TURN relay of a two-router lab listens (UDP and
// TCP) on Lab.TURNAddr; it relays from ports TURNRelayPorts of that address.
const TURNPort = 3478

// TURNRelayPorts is the range of relay ports the lab's TURN server uses.
var TURNRelayPorts = [2]uint16{50000, 50999}

// TURNArgs is the command line of coturn's turnserver as the TURN relay
// of a two-router lab: long-term credentials with one static user, no
// TLS or DTLS, listening and relaying only on addr; -n (no config file),
// and its pid file and database in dir.
func TURNArgs(dir string, addr netip.Addr, user, pass string) []string {
	return []string{"turnserver", "-n", "--lt-cred-mech", "--user", user + ":" + pass, "--realm", "natp2p.lab",
		"--no-cli", "--no-tls", "--no-dtls", "--listening-ip", addr.String(), "--relay-ip", addr.String(),
		"--listening-port", fmt.Sprint(TURNPort),
		"--min-port", fmt.Sprint(TURNRelayPorts[0]), "--max-port", fmt.Sprint(TURNRelayPorts[1]),
		"--log-file", "stdout", "--simple-log", "--pidfile", filepath.Join(dir, "turnserver.pid"),
		"--db", filepath.Join(dir, "turndb")}
}

// StartTURN runs TURNArgs on the WAN host of a two-router lab and waits
// until it listens on Lab.TURNAddr. The lab stops it, and removes its
// files, on Close.
func (l *Lab) StartTURN(ctx context.Context, user, pass string) error {
	if !l.TURNAddr.IsValid() {
		return errors.New("lab: StartTURN: only a two-router lab (Config.Second) has a TURN address")
	}
	dir, err := l.tmpDir("turn")
	if err != nil {
		return err
	}
	argv := TURNArgs(dir, l.TURNAddr, user, pass)
	if _, err := exec.LookPath(argv[0]); err != nil {
		return fmt.Errorf("%w: %s", ErrMissingTool, argv[0])
	}
	if _, err := l.WAN.Start(ctx, argv[0], argv[1:]...); err != nil {
		return err
	}
	return l.WAN.waitUDPOn(ctx, netip.AddrPortFrom(l.TURNAddr, TURNPort).String()+" ", 1)
}

// tmpDir makes a folder for a peer's files, removed on Close.
func (l *Lab) tmpDir(what string) (string, error) {
	dir, err := os.MkdirTemp("", l.prefix+"-"+what+"-")
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	l.tmpDirs = append(l.tmpDirs, dir)
	l.mu.Unlock()
	return dir, nil
}

// StartCoturn runs CoturnArgs in the WAN host and waits until it listens.
// The lab stops it, and removes its files, on Close.
func (l *Lab) StartCoturn(ctx context.Context) error {
	dir, err := l.tmpDir("coturn")
	if err != nil {
		return err
	}
	return l.startPeer(ctx, CoturnArgs(dir), 2)
}

// removeTmpDirs removes the folders the lab's peers kept their files in.
func (l *Lab) removeTmpDirs() error {
	l.mu.Lock()
	dirs := l.tmpDirs
	l.tmpDirs = nil
	l.mu.Unlock()
	var errs []error
	for _, d := range dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// StartStund runs the classic RFC 3489 server (Debian's stun-server) on
// the server addresses.
func (l *Lab) StartStund(ctx context.Context) error {
	return l.startPeer(ctx, []string{"stund", "-h", serverAddrs[0].String(), "-a", serverAddrs[1].String(),
		"-p", fmt.Sprint(STUNPort), "-o", fmt.Sprint(STUNAltPort)}, 2)
}

// StartIntroducer runs natp2p-introducer (bin) on both server addresses,
// with extra flags.
func (l *Lab) StartIntroducer(ctx context.Context, bin string, extra ...string) error {
	argv := append([]string{bin, "--primary", serverAddrs[0].String(), "--alternate", serverAddrs[1].String()}, extra...)
	return l.startPeer(ctx, argv, 2)
}

// startPeer starts argv in the WAN host and waits until `sockets` UDP
// sockets listen on the alternate port (the last a server binds).
func (l *Lab) startPeer(ctx context.Context, argv []string, sockets int) error {
	if _, err := exec.LookPath(argv[0]); err != nil {
		return fmt.Errorf("%w: %s", ErrMissingTool, argv[0])
	}
	if _, err := l.WAN.Start(ctx, argv[0], argv[1:]...); err != nil {
		return err
	}
	return l.WAN.WaitUDP(ctx, STUNAltPort, sockets)
}

// WaitUDP waits until at least n UDP sockets listen on port in this
// namespace (`ss -uln`).
func (n *NS) WaitUDP(ctx context.Context, port uint16, count int) error {
	return n.waitUDPOn(ctx, fmt.Sprintf(":%d ", port), count)
}

// waitUDPOn waits until at least count lines of `ss -uln` contain local
// (an address and port, or ":port", followed by a space).
func (n *NS) waitUDPOn(ctx context.Context, local string, count int) error {
	var last string
	for deadline := time.Now().Add(listenWait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, err := n.Run(ctx, "ss", "-uln")
		if err == nil && strings.Count(string(out), local) >= count {
			return nil
		}
		last = string(out)
	}
	return fmt.Errorf("lab: %s: no %d UDP sockets on %q within %v:\n%s", n.Name, count, local, listenWait, last)
}
