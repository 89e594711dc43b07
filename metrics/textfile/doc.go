// Package textfile writes natp2p's metrics for node_exporter's textfile
// collector and OpenWrt's prometheus-node-exporter-lua, which read every
// *.prom file of a directory (/var/prometheus on OpenWrt) at each scrape.
//
// A file is replaced atomically: the page goes to a temporary file in the
// same directory, whose name the collectors ignore, and is renamed over
// the old one, so that a scrape never reads half a page. The directory
// must be on tmpfs or ramfs (OpenWrt's /var is /tmp, a tmpfs): writing a
// page every minute to flash would wear it out, so another file system is
// refused unless the caller forces it.
package textfile
