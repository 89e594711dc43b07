// Package httpd is a minimal HTTP/1.1 responder for one resource: it
// answers GET and HEAD of one path (natp2p's /metrics) on a net.Listener,
// without net/http, whose server alone would add about 4.4 MB to the
// router's binary.
//
// It reads one request head per connection, answers and closes
// (Connection: close): no keep-alive, no request bodies, no chunked
// encoding. Other paths get 404, other methods 405, malformed requests
// 400, a head over Config.MaxHeader 431, an HTTP version other than 1.x
// 505, connections over Config.MaxConns 503.
//
// # Bounds
//
// A connection holds one buffer of Config.MaxHeader bytes and the
// response; at most Config.MaxConns connections are served at once, so
// memory stays under MaxConns × (MaxHeader + the page). The request head
// must arrive within Config.ReadTimeout of the connection's accept,
// however slowly it trickles in, and the response must be taken within
// Config.WriteTimeout: a client that never finishes its request, or never
// reads the answer, holds its slot no longer than that.
package httpd
