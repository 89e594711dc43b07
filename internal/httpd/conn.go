package httpd

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// ServeConn answers one request on c and closes it. Serve calls it for
// each connection it accepts; tests and fuzzing may call it on any
// net.Conn.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	head, status := s.readHead(c)
	if status < 0 { // timed out or gone: nobody to answer
		return
	}
	c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if s.answer(ctx, c, head, status) == nil {
		linger(c)
	}
}

// Lingering close: how long and how much of what the client still sends
// is read and dropped after the answer.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerMax     = 64 << 10
)

// linger half-closes c and reads what the client still sends (the rest
// of an oversized head, a body) until it closes too, for a bounded time
// and amount: closing with unread input makes the kernel reset the
// connection, and the client may lose the answer (RFC 9112 9.6).
func linger(c net.Conn) {
	tc, ok := c.(interface{ CloseWrite() error })
	if !ok || tc.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, c, lingerMax)
}

// readHead reads up to MaxHeader bytes until the request head is
// complete. It returns the head, and 0, or the status to refuse with
// (431 past the cap), or -1 when the client went away or timed out.
func (s *Server) readHead(c net.Conn) ([]byte, int) {
	buf := make([]byte, s.cfg.MaxHeader)
	n := 0
	for {
		if end := headEnd(buf[:n]); end >= 0 {
			return buf[:end], 0
		}
		if n == len(buf) {
			return nil, statusHeaderTooLarge
		}
		m, err := c.Read(buf[n:])
		n += m
		if err != nil && headEnd(buf[:n]) < 0 {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.log.Debug("refused: request head not complete in time", "timeout", s.cfg.ReadTimeout, "bytes", n)
			}
			if n == len(buf) {
				continue
			}
			return nil, -1
		}
	}
}

// answer writes the response to a head read whole (status 0) or refused.
func (s *Server) answer(ctx context.Context, w io.Writer, head []byte, status int) error {
	if status != 0 {
		s.log.Debug("refused", "status", status)
		return s.writeStatus(w, status, false)
	}
	req, status := parse(head)
	switch {
	case status != 0:
	case req.path() != s.cfg.Path:
		status = statusNotFound
	case req.method != "GET" && req.method != "HEAD":
		status = statusMethodNotAllowed
	}
	if status != 0 {
		s.log.Debug("refused", "status", status, "method", req.method)
		return s.writeStatus(w, status, req.method == "HEAD")
	}
	body, err := s.cfg.Body(ctx)
	if err != nil {
		s.log.Warn("rendering failed", "err", err)
		return s.writeStatus(w, statusInternalError, req.method == "HEAD")
	}
	return s.write(w, statusOK, s.cfg.ContentType, body, req.method == "HEAD", "")
}

// reason is a status's reason phrase, "" for one the responder never
// sends.
func reason(status int) string {
	switch status {
	case statusOK:
		return "OK"
	case statusBadRequest:
		return "Bad Request"
	case statusNotFound:
		return "Not Found"
	case statusMethodNotAllowed:
		return "Method Not Allowed"
	case statusHeaderTooLarge:
		return "Request Header Fields Too Large"
	case statusInternalError:
		return "Internal Server Error"
	case statusUnavailable:
		return "Service Unavailable"
	case statusVersion:
		return "HTTP Version Not Supported"
	}
	return ""
}

// writeStatus writes an error status with its reason as a text body.
func (s *Server) writeStatus(w io.Writer, status int, head bool) error {
	extra := ""
	if status == statusMethodNotAllowed {
		extra = "Allow: GET, HEAD\r\n"
	}
	body := strconv.Itoa(status) + " " + reason(status) + "\n"
	return s.write(w, status, "text/plain; charset=utf-8", []byte(body), head, extra)
}

// write writes a whole response; head leaves the body out (HEAD).
func (s *Server) write(w io.Writer, status int, ctype string, body []byte, head bool, extra string) error {
	b := make([]byte, 0, 192)
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " "+reason(status)+"\r\nDate: "...)
	b = s.cfg.Now().UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	b = append(b, "\r\nContent-Type: "+ctype+"\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nConnection: close\r\n"+extra+"\r\n"...)
	_, err := w.Write(b)
	if err == nil && !head {
		_, err = w.Write(body)
	}
	if err != nil {
		s.log.Debug("response not taken", "status", status, "err", err)
	}
	return err
}
