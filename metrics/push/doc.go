// Package push sends natp2p's metrics to a VictoriaMetrics or vmagent
// import endpoint (/api/v1/import/prometheus), for routers that no
// collector can reach (behind CGNAT, on customer premises).
//
// The agent links no HTTP client and no TLS (net/http and crypto/tls would
// add about 7 MB to the router's binary): a Pusher hands the page to the
// system's client instead, which on OpenWrt speaks HTTPS through the
// ustream-ssl library the firmware already carries. It tries, in order:
//
//   - curl: the page goes on its standard input;
//   - uclient-fetch (OpenWrt) and wget (GNU, or BusyBox with
//     --post-file): the page goes through a file on tmpfs, removed after.
//
// # Identity, jitter and backoff
//
// Config.Labels are added to every series by the endpoint itself
// (extra_label query arguments, which VictoriaMetrics and vmagent
// support), so the page stays the one a scrape gets. The first push waits
// a random part of the interval, so that a fleet that boots together
// spreads out; every later wait is the interval ±20%. After n failures in
// a row the wait is the interval times 2^n, at most 16 times, again ±20%:
// a collector that comes back is not met by the whole fleet at once.
//
// # Bounds
//
// One push at a time, one page in memory, and each push is killed after
// Config.Timeout. Nothing is written to flash: the file for uclient-fetch
// and wget goes to Config.Dir, or /tmp or /dev/shm, which must be on tmpfs
// (textfile.Write).
package push
