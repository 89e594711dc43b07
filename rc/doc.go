// Package rc holds no Go code: it is the folder of natp2p-agent's shell
// start-up scripts, a Go package only so that `go test ./...` runs their
// tests (rc_test.go).
//
//   - natp2p.sh: start, stop and status, sourced by the hooks and the init
//     script (functions natp2p_*, paths in NATP2P_* variables).
//   - install.sh: installs the agent on AirOS (Ubiquiti) as marked blocks in
//     the /etc/persistent hooks that AirOS's rc sources, and uninstalls it.
//   - natp2p.init: a SysV init script for other Linux routers.
//   - natp2p.conf: the default configuration (UCI syntax).
//
// See README.md in this folder for the admin's side.
//
// # Tests
//
// The tests need neither root nor a real agent: they install into a fake
// root in t.TempDir() (install.sh --root, NATP2P_ROOT for the scripts) and
// run a small shell script in place of natp2p-agent. They run the scripts
// with /bin/sh (dash on Debian) and, when busybox is installed, with
// busybox sh and busybox's own tools, which is what AirOS has.
//
// # Environment
//
// NATP2P_REQUIRE_SHELLCHECK=1 turns the shellcheck test's skip, when
// shellcheck is not installed, into a failure (for CI).
package rc
