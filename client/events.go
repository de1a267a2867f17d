package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// EventStream reads a document's Server-Sent Events.
type EventStream struct {
	body io.ReadCloser
	r    *bufio.Reader
	// LastID is the id of the last event read, for a reconnect.
	LastID uint64
}

// Events opens the document's event stream. With resume, the stream
// starts after the event with id lastID (the daemon's replay buffer
// permitting: else the first event is a lagged one); without, it starts
// with the next event. The stream ends when ctx ends or Close is called.
func (c *Client) Events(ctx context.Context, doc string, lastID uint64, resume bool) (*EventStream, error) {
	hdr := http.Header{"Accept": {"text/event-stream"}}
	if resume {
		hdr.Set("Last-Event-ID", strconv.FormatUint(lastID, 10))
	}
	resp, err := c.send(ctx, http.MethodGet, docPath(doc, "/events"), nil, nil, hdr)
	if err != nil {
		return nil, err
	}
	return &EventStream{body: resp.Body, r: bufio.NewReader(resp.Body), LastID: lastID}, nil
}

// Next returns the next event, skipping heartbeats. It returns io.EOF when
// the daemon ended the stream.
func (s *EventStream) Next() (Event, error) {
	var data strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" {
				return Event{}, io.EOF
			}
			return Event{}, fmt.Errorf("client: read events: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		switch {
		case line == "":
			if data.Len() == 0 {
				continue // the end of a heartbeat comment or of an empty event
			}
			var ev Event
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return Event{}, fmt.Errorf("client: decode event: %w", err)
			}
			s.LastID = ev.ID
			return ev, nil
		case strings.HasPrefix(line, ":"):
			// A heartbeat.
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		// id: and event: repeat what the data holds.
	}
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
