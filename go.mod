module github.com/natp2p/natp2p

go 1.23.0

require (
	github.com/google/go-cmp v0.7.0
	golang.org/x/sys v0.33.0
)
