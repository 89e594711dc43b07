//go:build linux

// Package icelab runs real peer-to-peer software in natp2p's two-router
// lab (internal/lab, Config.Second): two icepeer processes (pion/ice),
// one in a LAN host of each router (or two behind one router), exchange
// their offers through this package and report the candidate pair ICE
// selected; natp2p-agent runs in a router as on a real one. The
// end-to-end tests and the P2P demo share it.
//
// It lives in the nested module github.com/natp2p/natp2p/e2e because
// pion/ice v4 needs a newer Go than natp2p's own go.mod allows (OpenWrt
// 24.10's Go 1.23): nothing here is linked into natp2p's binaries.
package icelab
