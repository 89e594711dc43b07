package push

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/natp2p/natp2p/metrics/textfile"
)

const page = "natp2p_check{check=\"mapping.udp\",verdict=\"pass\"} 1\n"

func body(context.Context) ([]byte, error) { return []byte(page), nil }

// tmpfsDir returns a directory on tmpfs, or skips t.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "natp2p-push")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := textfile.Write(dir, "probe.prom", nil, false); err != nil {
		t.Skipf("/dev/shm is not tmpfs here: %v", err)
	}
	os.Remove(filepath.Join(dir, "probe.prom"))
	return dir
}

// TestCommands checks each client's command line and that the page
// reaches it, on stdin or in a file that is gone after.
func TestCommands(t *testing.T) {
	dir := tmpfsDir(t)
	target := "https://vm.example.net/api/v1/import/prometheus?extra_label=instance%3Drouter1&extra_label=job%3Dnatp2p"
	file := filepath.Join(dir, "natp2p-push.prom")
	tests := []struct {
		client string
		want   []string
	}{
		{"curl", []string{"-fsS", "--max-time", "30", "-H", "Content-Type: text/plain", "--data-binary", "@-", target}},
		{"uclient-fetch", []string{"-T", "30", "-q", "-O", "/dev/null", "--post-file=" + file, target}},
		{"wget", []string{"-q", "-O", "/dev/null", "--post-file=" + file, target}},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			var gotArgs []string
			var gotPage string
			p, err := New(Config{URL: "https://vm.example.net/api/v1/import/prometheus", Body: body, Dir: dir,
				Labels:   map[string]string{"job": "natp2p", "instance": "router1"},
				LookPath: onlyOn(tt.client),
				Run: func(_ context.Context, name string, args []string, stdin io.Reader) error {
					gotArgs = args
					if stdin != nil {
						b, _ := io.ReadAll(stdin)
						gotPage = string(b)
					} else {
						b, _ := os.ReadFile(file)
						gotPage = string(b)
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Push(context.Background()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, gotArgs); diff != "" {
				t.Errorf("arguments (-want +got):\n%s", diff)
			}
			if gotPage != page {
				t.Errorf("the client got %q, want the page", gotPage)
			}
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Errorf("the page's file is still there (%v)", err)
			}
		})
	}
}

// onlyOn is a LookPath that finds client only.
func onlyOn(client string) func(string) (string, error) {
	return func(name string) (string, error) {
		if name == client {
			return "/usr/bin/" + name, nil
		}
		return "", exec.ErrNotFound
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"first client found", Config{URL: "http://vm:8428/api/v1/import/prometheus", Body: body, LookPath: onlyOn("wget")}, true},
		{"no client", Config{URL: "http://vm:8428/api/v1/import/prometheus", Body: body, LookPath: onlyOn("")}, false},
		{"asked client missing", Config{URL: "http://vm:8428/", Body: body, Client: "curl", LookPath: onlyOn("wget")}, false},
		{"not http", Config{URL: "ftp://vm/", Body: body, LookPath: onlyOn("curl")}, false},
		{"no host", Config{URL: "http:///x", Body: body, LookPath: onlyOn("curl")}, false},
		{"no body", Config{URL: "http://vm/", LookPath: onlyOn("curl")}, false},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); (err == nil) != tt.ok {
			t.Errorf("%s: New = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestNext(t *testing.T) {
	const i = 5 * time.Minute
	tests := []struct {
		failures int
		r        float64
		want     time.Duration
	}{
		{0, 0.5, i},
		{0, 0, 4 * time.Minute},
		{0, 0.999999, 6*time.Minute - time.Duration(0.000001*0.4*float64(i))},
		{1, 0.5, 2 * i},
		{3, 0.5, 8 * i},
		{4, 0.5, 16 * i},
		{9, 0.5, 16 * i},
	}
	for _, tt := range tests {
		if got := Next(i, tt.failures, tt.r); got.Round(time.Millisecond) != tt.want.Round(time.Millisecond) {
			t.Errorf("Next(%v, %d, %v) = %v, want %v", i, tt.failures, tt.r, got, tt.want)
		}
	}
}

func TestPushFails(t *testing.T) {
	p, err := New(Config{URL: "http://vm/", Body: body, LookPath: onlyOn("curl"),
		Run: func(context.Context, string, []string, io.Reader) error { return errors.New("exit status 22") }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Push(context.Background()); err == nil || !strings.Contains(err.Error(), "curl: exit status 22") {
		t.Errorf("Push = %v, want curl's failure", err)
	}
}

// TestRealClients pushes through the clients installed here to a local
// endpoint that records what VictoriaMetrics would get.
func TestRealClients(t *testing.T) {
	dir := tmpfsDir(t)
	type got struct {
		method, query, body string
	}
	received := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- got{r.Method, r.URL.RawQuery, string(b)}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, client := range Clients {
		t.Run(client, func(t *testing.T) {
			if _, err := exec.LookPath(client); err != nil {
				t.Skipf("%s is not installed", client)
			}
			p, err := New(Config{URL: srv.URL + "/api/v1/import/prometheus", Body: body, Client: client, Dir: dir,
				Labels: map[string]string{"instance": "router 1"}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Push(context.Background()); err != nil {
				t.Fatal(err)
			}
			g := <-received
			q, _ := url.ParseQuery(g.query)
			if g.method != "POST" || g.body != page || q.Get("extra_label") != "instance=router 1" {
				t.Errorf("the endpoint got %+v", g)
			}
		})
	}
}

func TestWithLabels(t *testing.T) {
	tests := []struct {
		url    string
		labels map[string]string
		want   string
	}{
		{"http://vm:8428/api/v1/import/prometheus", nil, "http://vm:8428/api/v1/import/prometheus"},
		{"http://vm/i?db=1", map[string]string{"instance": "r 1/é"}, "http://vm/i?db=1&extra_label=instance%3Dr%201%2F%C3%A9"},
		{"https://vm/i", map[string]string{"b": "2", "a": "1"}, "https://vm/i?extra_label=a%3D1&extra_label=b%3D2"},
	}
	for _, tt := range tests {
		if got := withLabels(tt.url, tt.labels); got != tt.want {
			t.Errorf("withLabels(%q, %v) = %q, want %q", tt.url, tt.labels, got, tt.want)
		}
	}
	for u, ok := range map[string]bool{"http://vm/x": true, "https://vm:8428": true, "http://": false, "http:///x": false,
		"http://vm/a b": false, "http://vm/#x": false, "vm/x": false} {
		if validURL(u) != ok {
			t.Errorf("validURL(%q) = %v", u, !ok)
		}
	}
}
