package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/docsnode/docsnode/client"
)

func TestNoDaemon(t *testing.T) {
	c, err := client.New(client.Options{Socket: filepath.Join(t.TempDir(), "api.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Docs(context.Background())
	if !client.IsNoDaemon(err) || client.IsNotFound(err) {
		t.Fatalf("Docs with no daemon: %v", err)
	}
}

// TestErrorAnswers: an API error keeps its status and code; an answer that
// is not the API's JSON still becomes an *Error.
func TestErrorAnswers(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/docs":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":"doc_not_found","message":"no such document"}`)
		default:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}
	}))
	defer hs.Close()
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Docs(context.Background())
	if !client.IsNotFound(err) || client.Code(err) != "doc_not_found" || err.Error() != "no such document (doc_not_found)" {
		t.Fatalf("404 answer: %v", err)
	}
	_, err = c.Node(context.Background())
	if e, ok := err.(*client.Error); !ok || e.Status != 502 || e.Code != "http_502" || e.Message != "bad gateway" {
		t.Fatalf("plain 502 answer: %#v", err)
	}
}

// TestEventStream: the reader skips heartbeats and comments, joins
// multi-line data, tracks the last id, and ends with io.EOF.
func TestEventStream(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Last-Event-ID"); got != "6" {
			http.Error(w, "Last-Event-ID "+got, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": heartbeat\n\n")
		fmt.Fprint(w, "id: 7\nevent: insert-local\ndata: {\"id\":7,\"kind\":\"insert-local\",\n")
		fmt.Fprint(w, "data: \"entry\":{\"key\":\"k\",\"len\":3}}\n\n")
		fmt.Fprint(w, ": heartbeat\r\n\r\n")
		fmt.Fprint(w, "id: 8\r\nevent: lagged\r\ndata: {\"id\":8,\"kind\":\"lagged\",\"missed\":2}\r\n\r\n")
	}))
	defer hs.Close()
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Events(context.Background(), "doc", 6, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Next()
	if err != nil || ev.ID != 7 || ev.Kind != "insert-local" || ev.Entry == nil || ev.Entry.Key != "k" || s.LastID != 7 {
		t.Fatalf("first event = %+v, %v", ev, err)
	}
	ev, err = s.Next()
	if err != nil || ev.ID != 8 || ev.Kind != "lagged" || ev.Missed != 2 || s.LastID != 8 {
		t.Fatalf("second event = %+v, %v", ev, err)
	}
	if ev, err := s.Next(); err != io.EOF {
		t.Fatalf("after the last event: %+v, %v", ev, err)
	}
}
