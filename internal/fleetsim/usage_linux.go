package fleetsim

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Usage is what processes hold and have used.
type Usage struct {
	RSS int64 // resident bytes, now
	// CPU is the processes' own CPU time, to the nanosecond (schedstat);
	// Children is their waited-for children's, in clock ticks.
	CPU, Children time.Duration
}

func (u *Usage) add(o Usage) {
	u.RSS += o.RSS
	u.CPU += o.CPU
	u.Children += o.Children
}

// Sub is u minus an earlier reading (RSS is u's).
func (u Usage) Sub(before Usage) Usage {
	return Usage{RSS: u.RSS, CPU: u.CPU - before.CPU, Children: u.Children - before.Children}
}

// clockTick is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// usageOf reads one process's usage from /proc.
func usageOf(pid int) (Usage, error) {
	var u Usage
	dir := fmt.Sprintf("/proc/%d", pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			u.RSS = kb << 10
		}
	}
	tasks, _ := filepath.Glob(dir + "/task/*/schedstat")
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		ns, _ := strconv.ParseInt(string(bytes.Fields(b)[0]), 10, 64)
		u.CPU += time.Duration(ns)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return u, err
	}
	_, rest, _ := bytes.Cut(stat, []byte(") "))
	f := bytes.Fields(rest) // f[0] is field 3 (state): cutime is field 16, cstime 17
	if len(f) < 15 {
		return u, fmt.Errorf("%s/stat: too short", dir)
	}
	for _, s := range f[13:15] {
		ticks, _ := strconv.ParseInt(string(s), 10, 64)
		u.Children += time.Duration(ticks) * clockTick
	}
	return u, nil
}
