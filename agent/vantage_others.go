//go:build !linux

package agent

import (
	"fmt"
	"net/netip"
	"runtime"
)

func openVantage(string, netip.Prefix, netip.Addr) (*vantage, error) {
	return nil, fmt.Errorf("network namespaces are unsupported on %s/%s", runtime.GOOS, runtime.GOARCH)
}

func removeVantageLeftover() error { return nil }
