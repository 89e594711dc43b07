// Package cross holds no Go code for the router: it is the home of the
// cross builds (build.sh: every target of the targets file, with a size
// table and budget) and of the .ipk assembly (ipk.sh). Its tests unpack a
// package and check every part of it.
package cross
