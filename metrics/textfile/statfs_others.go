//go:build !linux

package textfile

import (
	"fmt"
	"runtime"
)

// ramFS cannot tell the file system type off Linux: only a forced write
// goes through.
func ramFS(string) (bool, error) {
	return false, fmt.Errorf("%w (%s/%s)", errUnsupported, runtime.GOOS, runtime.GOARCH)
}
