package api

import (
	"net/http"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/engine"
)

// contentStatus answers how much of the document's content is held.
func (s *Server) contentStatus(w http.ResponseWriter, r *http.Request) error {
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	p, err := d.ContentProgress(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.ContentStatus{
		Entries: p.Entries, Complete: p.Complete, Incomplete: p.Incomplete, Missing: p.Missing,
		Bytes: p.Bytes, Held: p.Held, WantedBytes: p.WantedBytes, WantedHeld: p.WantedHeld,
		Downloads: downloadsJSON(p.Downloads),
	})
}

func downloadsJSON(d engine.DocDownloads) wire.Downloads {
	return wire.Downloads{Queued: d.Queued, Running: d.Running, Completed: d.Completed, Failed: d.Failed,
		BytesQueued: d.BytesQueued, BytesCompleted: d.BytesCompleted, BytesFailed: d.BytesFailed}
}
