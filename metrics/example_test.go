package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/docsnode/docsnode/engine"
	"github.com/docsnode/docsnode/metrics"
)

// A daemon serves the handler at /metrics and reports each API request.
func Example() {
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.TestConfig())
	if err != nil {
		panic(err)
	}
	defer e.Close()
	m := metrics.New(e, metrics.Options{})
	defer m.Close()

	m.ObserveRequest("/v1/node", http.MethodGet, http.StatusOK, 2*time.Millisecond)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, "docsnode_api_request_duration_seconds_count") ||
			strings.HasPrefix(line, "docsnode_sync_sessions_total{result=\"ok\"") {
			fmt.Println(line)
		}
	}
	// Output:
	// docsnode_api_request_duration_seconds_count{code="200",method="GET",route="/v1/node"} 1
	// docsnode_sync_sessions_total{result="ok",role="acceptor"} 0
	// docsnode_sync_sessions_total{result="ok",role="initiator"} 0
}
