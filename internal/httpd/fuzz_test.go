package httpd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that the request parser never panics, that what it
// accepts is well formed, and that it reads back what it accepted as the
// same request.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{promRequest, "HEAD /metrics HTTP/1.0\r\n\r\n", "GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "GET / HTTP/2.0\r\n\r\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if end := headEnd(head); end >= 0 {
			head = head[:end]
		}
		r, status := parse(head)
		if status != 0 {
			return
		}
		if !isToken(r.method) || !validTarget(r.target) || !strings.HasPrefix(r.version, "HTTP/1.") {
			t.Fatalf("accepted a malformed request line: %q %q %q", r.method, r.target, r.version)
		}
		again, status := parse(encode(r))
		if status != 0 {
			t.Fatalf("refused its own re-encoding with %d: %q", status, encode(r))
		}
		if diff := cmp.Diff(r, again, cmp.AllowUnexported(request{}, field{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// FuzzServeConn feeds bytes to a connection and checks that the answer is
// one well-formed response with a known status and an exact length.
func FuzzServeConn(f *testing.F) {
	for _, seed := range []string{promRequest, "HEAD /metrics HTTP/1.0\r\n\r\n", "POST /metrics HTTP/1.0\r\n\r\n",
		"GET /other HTTP/1.0\r\n\r\n", "GET /metrics HTTP/1.1\r\n", strings.Repeat("A", 300)} {
		f.Add([]byte(seed))
	}
	s, err := New(Config{Body: func(context.Context) ([]byte, error) { return []byte("natp2p_up 1\n"), nil }, MaxHeader: 256})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &fakeConn{in: bytes.NewReader(in)}
		s.ServeConn(context.Background(), c)
		if c.out.Len() == 0 {
			if headEnd(in) >= 0 || len(in) >= 256 {
				t.Fatalf("no answer to %q", in)
			}
			return
		}
		head := false
		if end := headEnd(in); end >= 0 {
			r, _ := parse(in[:end])
			head = r.method == "HEAD"
		}
		checkResponse(t, c.out.Bytes(), head)
	})
}

// checkResponse parses a response: a known status, Connection: close, and
// a body of exactly Content-Length bytes (none for HEAD).
func checkResponse(t *testing.T, resp []byte, head bool) int {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(resp))
	line, _ := br.ReadString('\n')
	code, _, _ := strings.Cut(strings.TrimPrefix(line, "HTTP/1.1 "), " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(line, "HTTP/1.1 ") || err != nil || reason(status) == "" {
		t.Fatalf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("response head not terminated: %q", resp)
		}
		if l == "\r\n" {
			break
		}
		name, value, _ := strings.Cut(strings.TrimSuffix(l, "\r\n"), ": ")
		switch name {
		case "Content-Length":
			length, _ = strconv.Atoi(value)
		case "Connection":
			closing = value == "close"
		}
	}
	body, _ := io.ReadAll(br)
	if !closing || length < 0 || (head && len(body) != 0) || (!head && len(body) != length) {
		t.Fatalf("bad response (length %d, close %v, body %d bytes): %q", length, closing, len(body), resp)
	}
	return status
}

// fakeConn is a net.Conn reading from in and writing to out.
type fakeConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(b []byte) (int, error)         { return c.in.Read(b) }
func (c *fakeConn) Write(b []byte) (int, error)        { return c.out.Write(b) }
func (c *fakeConn) Close() error                       { return nil }
func (c *fakeConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(t time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(t time.Time) error { return nil }
