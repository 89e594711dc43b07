//go:build !linux

package agent

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
)

func openVantage(context.Context, string, netip.Prefix, netip.Addr) (*vantage, error) {
	return nil, fmt.Errorf("network namespaces are unsupported on %s/%s", runtime.GOOS, runtime.GOARCH)
}

func removeVantageLeftover() error { return nil }
