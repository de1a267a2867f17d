package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/docsnode/docsnode/api"
	"github.com/docsnode/docsnode/blobs"
	"github.com/docsnode/docsnode/endpoint"
	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/metrics"
	"github.com/docsnode/docsnode/replica"
	"github.com/spf13/cobra"
)

// startOptions are the flags of start.
type startOptions struct {
	ephemeral       bool
	listen          string
	allowRemoteAPI  bool
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	api             api.Config
	maxContent      int64         // the content store's largest blob
	maxConns        int           // the endpoint's live connections
	engine          engine.Config // the engine's limits, bound to flags
}

func startCmd(g *globals) *cobra.Command {
	o := &startOptions{api: api.DefaultConfig(), engine: engineDefaults()}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "run the daemon: keep the data directory's documents live and serve the API",
		Long: `start runs the daemon on the data directory until SIGINT or SIGTERM.

It takes the directory's lock (a second daemon on it fails at once), opens
the store, resumes live sync of the documents that were live, and serves
the API on the unix socket api.sock in the directory (mode 0600; the
socket needs no token). With --api-addr it also serves the API on TCP,
where every request must carry the bearer token kept in the directory's
api-token file (created on first use, mode 0600).

The QUIC port is chosen on the first start and kept in the directory's
quic-port file, so later starts keep it and daemons on different data
directories run side by side. A --listen with a port other than 0
overrides it.

On SIGINT or SIGTERM it stops accepting requests, ends event streams and
sync, flushes the store and exits 0 within --shutdown-timeout; a second
signal exits at once.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), g, o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.ephemeral, "ephemeral", false, "keep the store and the node key in memory: nothing outlives the daemon (the data directory holds only the lock and the API socket)")
	f.StringVar(&o.listen, "listen", "", "QUIC listen address ip:port; port 0 uses the port kept in the data directory (default 0.0.0.0:0)")
	f.BoolVar(&o.allowRemoteAPI, "api-allow-remote", false, "allow --api-addr on a non-loopback address")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	f.Int64Var(&o.api.MaxValueBytes, "max-value-bytes", o.api.MaxValueBytes, "largest value a set accepts, in bytes")
	f.Int64Var(&o.api.MaxBodyBytes, "max-body-bytes", o.api.MaxBodyBytes, "largest JSON request body, in bytes")
	f.IntVar(&o.api.MaxPageSize, "max-page-size", o.api.MaxPageSize, "most entries in one page of a query")
	f.IntVar(&o.api.EventReplay, "event-replay", o.api.EventReplay, "events kept per document for event streams that reconnect")
	f.DurationVar(&o.api.Heartbeat, "event-heartbeat", o.api.Heartbeat, "interval of the heartbeat on idle event streams")
	f.DurationVar(&o.api.MaxWait, "max-wait", o.api.MaxWait, "longest wait-synced")
	f.Int64Var(&o.maxContent, "max-content-bytes", blobs.DefaultMaxSize, "largest content the node stores or downloads, in bytes")
	f.IntVar(&o.maxConns, "max-conns", endpoint.DefaultMaxConns, "most live QUIC connections, dialled and accepted")
	engineFlags(f, &o.engine)
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

// runDaemon is start: it returns nil after a graceful shutdown.
func runDaemon(ctx context.Context, g *globals, o *startOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if g.apiAddr != "" && !isLoopback(g.apiAddr) {
		if !o.allowRemoteAPI {
			return usageError{fmt.Errorf("--api-addr %s is not a loopback address: add --api-allow-remote to serve the API beyond this machine", g.apiAddr)}
		}
		log.Warn("the API is served beyond this machine; anyone who can reach it with the token controls the node", "addr", g.apiAddr)
	}
	var listen netip.AddrPort
	if o.listen != "" {
		if listen, err = netip.ParseAddrPort(o.listen); err != nil {
			return usageError{fmt.Errorf("--listen %q: want ip:port, such as 0.0.0.0:7777 or 127.0.0.1:0", o.listen)}
		}
	}
	dir, err := g.dir()
	if err != nil {
		return err
	}
	sock, err := socketPath(dir)
	if err != nil {
		return err
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer lock.release()

	// A second signal forces the exit; the first cancels ctx (main's
	// NotifyContext) and starts the graceful shutdown.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		n := 0
		for range signals {
			if n++; n == 1 {
				cancel()
				continue
			}
			log.Error("second signal: exiting without finishing the shutdown")
			os.Exit(exitError)
		}
	}()

	cfg := o.engine
	cfg.DataDir = dir
	if o.ephemeral {
		// The engine keeps the store in memory and the content in a
		// temporary directory it removes on Close.
		cfg.DataDir = ""
	}
	cfg.Logger = log
	cfg.Content.MaxSize = o.maxContent
	cfg.Endpoint.MaxConns = o.maxConns
	cfg.GC = gcFromFlags(cfg.GC)
	// The QUIC port: an explicit --listen port wins; otherwise (no
	// --listen, or --listen IP:0) the port kept by the first start, or a
	// port the system picks, which is then kept.
	if o.listen != "" {
		cfg.Endpoint.ListenAddr = listen
	}
	keepChosenPort := false
	if cfg.Endpoint.ListenAddr.Port() == 0 && !o.ephemeral {
		port, err := keptPort(dir)
		if err != nil {
			return err
		}
		cfg.Endpoint.ListenAddr = netip.AddrPortFrom(cfg.Endpoint.ListenAddr.Addr(), port)
		keepChosenPort = port == 0
	}
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		if errors.Is(err, replica.ErrUnknownFormat) {
			return fmt.Errorf("%w: %s was written by another version of docsnode, whose store format this one does not know: run that version, or a newer one", err, dir)
		}
		if errors.Is(err, syscall.EADDRINUSE) && !keepChosenPort {
			return fmt.Errorf("%w: the QUIC port kept in %s/%s is taken by another program: free it, or pass --listen", err, dir, portFile)
		}
		return err
	}
	defer func() {
		if e != nil {
			e.Close()
		}
	}()
	addr := e.NodeAddr()
	if keepChosenPort && len(addr.Addrs) > 0 {
		if err := keepPort(dir, addr.Addrs[0].Port()); err != nil {
			return fmt.Errorf("keep the QUIC port: %w", err)
		}
	}
	resumed, resumeErr := e.Resumed()
	// The default author exists from the start, so that no request
	// creates it as a side effect.
	author, err := e.Authors().Default(ctx)
	if err != nil {
		return fmt.Errorf("default author: %w", err)
	}

	o.api.Logger = log
	// Prometheus metrics at GET /metrics, with the API's own latency.
	m := metrics.New(e, metrics.Options{Logger: log, Runtime: true})
	defer m.Close()
	o.api.Metrics = m.Handler()
	o.api.ObserveRequest = func(pattern string, status int, took time.Duration) {
		method, route, ok := strings.Cut(pattern, " ")
		if !ok {
			method, route = "", pattern
		}
		m.ObserveRequest(route, method, status, took)
	}
	srv := api.NewServer(e, o.api)
	defer srv.Close()

	// The socket of a daemon that died is left behind; the lock says no
	// daemon runs, so it is stale.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the stale API socket: %w", err)
	}
	var lc net.ListenConfig
	// The socket is created 0600 rather than made so after: in a data
	// directory that already existed with wider permissions, it is never
	// open to others, not even for a moment.
	oldMask := syscall.Umask(0o177)
	ul, err := lc.Listen(ctx, "unix", sock)
	syscall.Umask(oldMask)
	if err != nil {
		return fmt.Errorf("listen on the API socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ul.Close()
		return fmt.Errorf("restrict the API socket: %w", err)
	}
	servers := []*http.Server{{Handler: srv, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}
	listeners := []net.Listener{ul}
	if g.apiAddr != "" {
		token, err := apiToken(dir)
		if err != nil {
			return err
		}
		tl, err := lc.Listen(ctx, "tcp", g.apiAddr)
		if err != nil {
			ul.Close()
			return fmt.Errorf("listen on --api-addr: %w", err)
		}
		servers = append(servers, &http.Server{Handler: api.RequireToken(token, srv), ErrorLog: servers[0].ErrorLog, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute})
		listeners = append(listeners, tl)
	}
	serveErr := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { serveErr <- hs.Serve(listeners[i]) }()
	}
	apiAddrs := []string{sock}
	for _, l := range listeners[1:] {
		apiAddrs = append(apiAddrs, l.Addr().String())
	}
	quicAddrs := make([]string, len(addr.Addrs))
	for i, a := range addr.Addrs {
		quicAddrs[i] = a.String()
	}
	log.Info("docsnode started", "node", addr.ID.String(), "data", dir, "quic", strings.Join(quicAddrs, ","),
		"api", strings.Join(apiAddrs, ","), "resumed", len(resumed), "author", author.ID().String(), "ephemeral", o.ephemeral)
	if resumeErr != nil {
		log.Warn("some documents did not resume live sync", "err", resumeErr)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", o.shutdownTimeout)
	case err := <-serveErr:
		runErr = fmt.Errorf("the API server stopped: %w", err)
		log.Error("shutting down", "err", runErr)
	}
	return errors.Join(runErr, shutdown(servers, srv, &e, o.shutdownTimeout, log))
}

// shutdown stops the API (event streams first, which Shutdown would wait
// on), then the engine, within timeout.
func shutdown(servers []*http.Server, srv *api.Server, e **engine.Engine, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		srv.Close()
		var errs []error
		for _, hs := range servers {
			if err := hs.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop the API: %w", err))
			}
		}
		if err := (*e).Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the engine: %w", err))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		*e = nil
		if err != nil {
			return err
		}
		log.Info("stopped")
		return nil
	case <-ctx.Done():
		// Closing the engine hangs; the caller's deferred Close must not
		// wait on it again.
		*e = nil
		return fmt.Errorf("the shutdown took longer than --shutdown-timeout %v", timeout)
	}
}
