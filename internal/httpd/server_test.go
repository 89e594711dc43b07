package httpd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const page = "natp2p_up 1\n"

// start serves cfg on a loopback port until the test ends, and returns
// its address and the listener, which counts what the server reads.
func start(t *testing.T, cfg Config) (string, *countingListener) {
	t.Helper()
	if cfg.Body == nil {
		cfg.Body = func(context.Context) ([]byte, error) { return []byte(page), nil }
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, cl) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), cl
}

// exchange sends req on a new connection and returns the whole answer.
func exchange(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	return string(resp)
}

func TestServe(t *testing.T) {
	addr, _ := start(t, Config{Now: func() time.Time { return time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC) }})
	ok := "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
		"Content-Length: 12\r\nConnection: close\r\n\r\n"
	status := func(code, reason, extra string) string {
		body := code + " " + reason + "\n"
		return "HTTP/1.1 " + code + " " + reason + "\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Length: " + itoa(len(body)) + "\r\nConnection: close\r\n" + extra + "\r\n" + body
	}
	tests := []struct{ name, req, want string }{
		{"prometheus", promRequest, ok + page},
		{"HEAD", "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n", ok},
		{"a query", "GET /metrics?format=x HTTP/1.0\r\n\r\n", ok + page},
		{"other path", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", status("404", "Not Found", "")},
		{"other method", "POST /metrics HTTP/1.1\r\nHost: a\r\n\r\n", status("405", "Method Not Allowed", "Allow: GET, HEAD\r\n")},
		{"malformed", "GET /metrics\r\n\r\n", status("400", "Bad Request", "")},
		{"HTTP/2", "GET /metrics HTTP/2.0\r\n\r\n", status("505", "HTTP Version Not Supported", "")},
		{"oversized head", "GET /metrics HTTP/1.1\r\nX: " + strings.Repeat("a", DefaultMaxHeader) + "\r\n\r\n",
			status("431", "Request Header Fields Too Large", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exchange(t, addr, tt.req); got != tt.want {
				t.Errorf("answer:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestNetHTTPClient checks that Go's own client reads the answer.
func TestNetHTTPClient(t *testing.T) {
	addr, _ := start(t, Config{})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != page || resp.Header.Get("Content-Type") != ContentType {
		t.Errorf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestBodyError(t *testing.T) {
	addr, _ := start(t, Config{Body: func(context.Context) ([]byte, error) { return nil, errors.New("no report") }})
	if got := exchange(t, addr, "GET /metrics HTTP/1.0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 500 ") {
		t.Errorf("answer %q, want a 500", got)
	}
}

// TestSlowClient: a client that trickles a request head and never ends it
// neither delays other scrapes nor makes the server read past MaxHeader,
// and it is cut off at ReadTimeout.
func TestSlowClient(t *testing.T) {
	const timeout, maxHeader = 500 * time.Millisecond, 1024
	addr, cl := start(t, Config{ReadTimeout: timeout, MaxHeader: maxHeader})
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	began := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.WriteString(slow, "GET /metrics HTTP/1.1\r\n")
		for {
			if _, err := io.WriteString(slow, "X: y\r\n"); err != nil {
				closed <- time.Since(began)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		if got := exchange(t, addr, promRequest); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Fatalf("scrape %d beside the slow client: %q", i, got)
		}
		if d := time.Since(t0); d > timeout/2 {
			t.Errorf("scrape %d took %v beside the slow client", i, d)
		}
	}
	select {
	case d := <-closed:
		if d < timeout/2 {
			t.Errorf("slow client cut off after %v, before ReadTimeout %v", d, timeout)
		}
	case <-time.After(5 * timeout):
		t.Fatalf("slow client still connected after %v (ReadTimeout %v)", 5*timeout, timeout)
	}
	if got := cl.maxRead(); got > maxHeader {
		t.Errorf("server read %d bytes of one connection, past MaxHeader %d", got, maxHeader)
	}
}

// TestFloodedHead: a client that sends header bytes as fast as it can
// gets 431 once MaxHeader is full; the server then reads and drops at
// most lingerMax bytes more while its answer leaves.
func TestFloodedHead(t *testing.T) {
	const maxHeader = 512
	addr, cl := start(t, Config{MaxHeader: maxHeader})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		io.WriteString(c, "GET /metrics HTTP/1.1\r\n")
		for i := 0; i < 1000; i++ {
			if _, err := io.WriteString(c, "X-Flood: "+strings.Repeat("a", 100)+"\r\n"); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line := make([]byte, 12)
	if _, err := io.ReadFull(c, line); err != nil || string(line) != "HTTP/1.1 431" {
		t.Fatalf("answer %q (%v), want a 431", line, err)
	}
	if got := cl.maxRead(); got > maxHeader+lingerMax {
		t.Errorf("server read %d bytes, past MaxHeader %d and lingerMax %d", got, maxHeader, lingerMax)
	}
}

// TestConnectionCap: past MaxConns a connection gets 503 at once; the
// slot comes back when the holder times out.
func TestConnectionCap(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr, _ := start(t, Config{MaxConns: 1, ReadTimeout: timeout})
	holder, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	time.Sleep(50 * time.Millisecond) // let the server take it
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(timeout / 2))
	got, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(got), "HTTP/1.1 503 ") {
		t.Errorf("second connection got %q, want a 503 at once", got)
	}
	time.Sleep(timeout + 100*time.Millisecond)
	if got := exchange(t, addr, promRequest); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("after the holder timed out: %q", got)
	}
}

// TestSlowReader: a client that never reads a large answer holds its slot
// no longer than WriteTimeout.
func TestSlowReader(t *testing.T) {
	const timeout = 300 * time.Millisecond
	big := []byte(strings.Repeat("natp2p_x 1\n", 2<<20)) // 22 MB, past any socket buffer
	addr, _ := start(t, Config{MaxConns: 1, WriteTimeout: timeout,
		Body: func(context.Context) ([]byte, error) { return big, nil }})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, promRequest)
	time.Sleep(timeout + 200*time.Millisecond)
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "HEAD /metrics HTTP/1.0\r\n\r\n")
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, _ := io.ReadAll(c2)
	if !strings.HasPrefix(string(got), "HTTP/1.1 200 ") {
		t.Errorf("after the slow reader's WriteTimeout: %q", got)
	}
}

// TestShutdown: Serve returns once ctx is done, closing open connections.
func TestShutdown(t *testing.T) {
	s, err := New(Config{Body: func(context.Context) ([]byte, error) { return nil, nil }, ReadTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestNewChecks(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without Body succeeded")
	}
	if _, err := New(Config{Body: func(context.Context) ([]byte, error) { return nil, nil }, MaxConns: -1}); err == nil {
		t.Error("New with MaxConns -1 succeeded")
	}
}

// countingListener records the most bytes the server read of one
// connection.
type countingListener struct {
	net.Listener
	mu  sync.Mutex
	max int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

func (l *countingListener) maxRead() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}

type countingConn struct {
	net.Conn
	l *countingListener
	n int
}

func (c *countingConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n += n
	c.l.mu.Lock()
	c.l.max = max(c.l.max, c.n)
	c.l.mu.Unlock()
	return n, err
}
