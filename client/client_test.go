package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
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

// TestStreamedValues: SetReader sends a value of unknown length chunked
// and one with SetOptions.Length as Content-Length (a value shorter than
// its stated length fails before it is answered); GetReader hands back
// the body as it streams, with the entry from the headers.
func TestStreamedValues(t *testing.T) {
	var lengths []int64
	var bodies []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			lengths = append(lengths, r.ContentLength)
			bodies = append(bodies, string(b))
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"len":%d}`, len(b))
		case http.MethodGet:
			w.Header().Set("Docsnode-Hash", "abcd")
			w.Header().Set("Content-Length", "11")
			io.WriteString(w, "hello world")
		}
	}))
	defer hs.Close()
	c, err := client.New(client.Options{BaseURL: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	value := func() io.Reader { return io.MultiReader(strings.NewReader("a value")) } // no length of its own
	if e, err := c.SetReader(ctx, "d", "k", value(), client.SetOptions{}); err != nil || e.Len != 7 {
		t.Fatalf("chunked set: %+v, %v", e, err)
	}
	if e, err := c.SetReader(ctx, "d", "k", value(), client.SetOptions{Length: 7}); err != nil || e.Len != 7 {
		t.Fatalf("set with a length: %+v, %v", e, err)
	}
	if _, err := c.SetReader(ctx, "d", "k", value(), client.SetOptions{Length: 9}); err == nil {
		t.Fatal("a value shorter than its stated length was sent")
	}
	if !slices.Equal(lengths, []int64{-1, 7}) || !slices.Equal(bodies, []string{"a value", "a value"}) {
		t.Fatalf("the server saw lengths %v, bodies %q", lengths, bodies)
	}
	body, e, err := c.GetReader(ctx, "d", "k", client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil || string(b) != "hello world" || e.Len != 11 || e.Hash != "abcd" || e.Key != "k" {
		t.Fatalf("GetReader: %q, %+v, %v", b, e, err)
	}
}
