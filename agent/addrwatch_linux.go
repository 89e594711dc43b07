//go:build linux

package agent

import (
	"context"
	"errors"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// watchAddrs calls changed whenever the kernel adds or removes an IPv4
// address (rtnetlink's RTNLGRP_IPV4_IFADDR), as on a PPP reconnect or a
// DHCP renewal, until ctx is done. The WAN poll stays as a fallback.
func watchAddrs(ctx context.Context, changed func()) error {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: unix.RTMGRP_IPV4_IFADDR})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	for {
		msgs, err := c.Receive()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, unix.ENOBUFS): // notifications lost: look anyway
			changed()
			continue
		case err != nil:
			c.Close()
			return err
		}
		for _, m := range msgs {
			if t := m.Header.Type; t == unix.RTM_NEWADDR || t == unix.RTM_DELADDR {
				changed()
				break
			}
		}
	}
}
