package httpd

import (
	"bytes"
	"strings"
)

// The statuses the responder answers with.
const (
	statusOK               = 200
	statusBadRequest       = 400
	statusNotFound         = 404
	statusMethodNotAllowed = 405
	statusHeaderTooLarge   = 431
	statusInternalError    = 500
	statusUnavailable      = 503
	statusVersion          = 505
)

// request is a parsed request head.
type request struct {
	method, target, version string
	header                  []field
}

// field is one header field, its value without surrounding whitespace.
type field struct{ name, value string }

// path is the target's path, without a query.
func (r *request) path() string {
	p, _, _ := strings.Cut(r.target, "?")
	return p
}

// headEnd returns the length of the request head in b, through the empty
// line that ends it (CRLF CRLF, or bare LFs), or -1 when b holds no
// complete head yet.
func headEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// parse parses a complete request head (RFC 9112 sections 2 to 5). It
// returns 0 for a request it can answer, else the status to refuse it
// with.
func parse(head []byte) (request, int) {
	var r request
	// RFC 9112 2.2: ignore empty lines before the request line.
	for len(head) > 0 && (head[0] == '\r' || head[0] == '\n') {
		if head[0] == '\r' && (len(head) < 2 || head[1] != '\n') {
			return r, statusBadRequest
		}
		head = head[bytes.IndexByte(head, '\n')+1:]
	}
	lines := splitLines(head)
	if len(lines) < 2 || lines[len(lines)-1] != "" {
		return r, statusBadRequest
	}
	if status := parseRequestLine(&r, lines[0]); status != 0 {
		return r, status
	}
	for _, line := range lines[1 : len(lines)-1] {
		f, ok := parseField(line)
		if !ok {
			return r, statusBadRequest
		}
		r.header = append(r.header, f)
	}
	return r, checkHeader(&r)
}

// splitLines splits a head at LF, dropping the CR of CRLF; a CR elsewhere
// stays, for the checks to refuse. The last line is the empty one.
func splitLines(head []byte) []string {
	s := strings.TrimSuffix(string(head), "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// parseRequestLine reads method SP request-target SP HTTP-version
// (RFC 9112 3).
func parseRequestLine(r *request, line string) int {
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !isToken(parts[0]) || !validTarget(parts[1]) {
		return statusBadRequest
	}
	r.method, r.target, r.version = parts[0], parts[1], parts[2]
	v := r.version
	if len(v) != 8 || !strings.HasPrefix(v, "HTTP/") || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return statusBadRequest
	}
	if v[5] != '1' {
		return statusVersion
	}
	return 0
}

// validTarget accepts the origin form (RFC 9112 3.2.1): a path from "/"
// and an optional query, of visible ASCII.
func validTarget(t string) bool {
	if !strings.HasPrefix(t, "/") {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f || t[i] == '#' {
			return false
		}
	}
	return true
}

// parseField reads field-name ":" OWS field-value OWS (RFC 9112 5);
// whitespace before the colon and obsolete line folding are refused
// (5.1, 5.2).
func parseField(line string) (field, bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || !isToken(name) {
		return field{}, false
	}
	value = trimOWS(value)
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return field{}, false
		}
	}
	return field{name: name, value: value}, true
}

// checkHeader refuses what this responder does not serve: an HTTP/1.1
// request without exactly one Host (RFC 9112 3.2), and any body.
func checkHeader(r *request) int {
	hosts := 0
	for _, f := range r.header {
		switch {
		case equalFold(f.name, "Host"):
			hosts++
		case equalFold(f.name, "Transfer-Encoding"),
			equalFold(f.name, "Content-Length") && f.value != "0":
			return statusBadRequest
		}
	}
	if hosts > 1 || (hosts == 0 && r.version == "HTTP/1.1") {
		return statusBadRequest
	}
	return 0
}

// isToken reports whether s is a non-empty token (RFC 9110 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// equalFold compares a token with a lower- or mixed-case ASCII name
// without regard to case (field names are case-insensitive, RFC 9110
// 5.1).
func equalFold(token, name string) bool {
	if len(token) != len(name) {
		return false
	}
	for i := 0; i < len(token); i++ {
		if token[i]|0x20 != name[i]|0x20 {
			return false
		}
	}
	return true
}

// trimOWS removes optional whitespace (spaces and tabs) around s. (By
// hand: strings.Trim costs the router's binary 1 KB.)
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
