// Package openwrt holds no Go code for the router: it is the home of the
// OpenWrt feed (natp2p/Makefile and natp2p/files/). Its tests check the
// feed against the conventions of OpenWrt's Go packages and run the init
// script and hotplug hook against stubbed OpenWrt shell functions.
package openwrt
