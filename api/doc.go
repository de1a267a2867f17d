// Package api serves docsnode's local HTTP/JSON API over an engine: the
// routes under /v1/, /healthz and /readyz that the daemon (docsnode start)
// exposes on a unix socket and, optionally, on loopback TCP. docs/api.md
// documents the routes, the error codes and the limits; package client is
// the Go client and package wire holds the JSON shapes.
//
//	e, _ := engine.Open(ctx, engine.DefaultConfig(dir))
//	srv := api.NewServer(e, api.DefaultConfig())
//	defer srv.Close()                 // ends event streams
//	hs := &http.Server{Handler: srv}  // unix socket: mode 0600
//	go hs.Serve(unixListener)
//	hs2 := &http.Server{Handler: api.RequireToken(token, srv)}
//	go hs2.Serve(tcpListener)         // TCP: bearer token
//
// A request that is refused changes nothing: every parameter and limit is
// checked before the engine is called.
package api
