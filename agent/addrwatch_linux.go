//go:build linux

package agent

import (
	"context"
	"errors"
	"log/slog"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// addrConn is the address watch's socket: a *netlink.Conn, or a fake in
// tests.
type addrConn interface {
	Receive() ([]netlink.Message, error)
	Close() error
}

// dialAddrs opens a socket on rtnetlink's RTNLGRP_IPV4_IFADDR group.
func dialAddrs() (addrConn, error) {
	return netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: unix.RTMGRP_IPV4_IFADDR})
}

// watchAddrs calls changed whenever the kernel adds or removes an IPv4
// address (rtnetlink's RTNLGRP_IPV4_IFADDR), as on a PPP reconnect or a
// DHCP renewal, until ctx is done. The WAN poll stays as a fallback.
func watchAddrs(ctx context.Context, log *slog.Logger, changed func()) error {
	return watchAddrsOn(ctx, dialAddrs, log, changed)
}

// watchAddrsOn is watchAddrs on sockets of dial's. A transient failure to
// open or read one (EMFILE, ENOBUFS from the dial, EINTR: see transient)
// is logged and retried with backoff, and once a socket is back changed is
// called, as changes may have been missed. Any other failure is returned.
func watchAddrsOn(ctx context.Context, dial func() (addrConn, error), log *slog.Logger, changed func()) error {
	retry := backoff{min: wanRetry, max: wanRefresh}
	for missed := false; ; missed = true {
		c, err := dial()
		if err == nil {
			if missed {
				changed()
			}
			var got bool
			got, err = receiveAddrs(ctx, c, changed)
			if got {
				retry.reset()
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case !transient(err):
			return err
		}
		d := retry.next()
		log.Warn("address watch failed for now; retrying", "err", err, "in", d)
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// receiveAddrs calls changed for each batch of messages on c that adds or
// removes an address, until ctx is done or c fails; it closes c, and
// reports whether any message came.
func receiveAddrs(ctx context.Context, c addrConn, changed func()) (got bool, err error) {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		if stop() {
			c.Close()
		}
	}()
	for {
		msgs, err := c.Receive()
		switch {
		case ctx.Err() != nil:
			return got, nil
		case errors.Is(err, unix.ENOBUFS): // notifications lost: look anyway
			changed()
			continue
		case err != nil:
			return got, err
		}
		got = true
		for _, m := range msgs {
			if t := m.Header.Type; t == unix.RTM_NEWADDR || t == unix.RTM_DELADDR {
				changed()
				break
			}
		}
	}
}
