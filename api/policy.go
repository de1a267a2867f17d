package api

import (
	"net/http"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/engine"
)

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	p, err := d.DownloadPolicy(r.Context())
	if err != nil {
		return err
	}
	out := wire.Policy{Mode: wire.PolicyEverythingExcept, Filters: []wire.KeyFilter{}}
	if p.Mode == engine.DownloadNothingExcept {
		out.Mode = wire.PolicyNothingExcept
	}
	for _, f := range p.Filters {
		out.Filters = append(out.Filters, wire.KeyFilter{Key: string(f.Key), Prefix: f.Prefix})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request) error {
	var req wire.Policy
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	var p engine.DownloadPolicy
	switch req.Mode {
	case wire.PolicyEverythingExcept:
		p.Mode = engine.DownloadEverythingExcept
	case wire.PolicyNothingExcept:
		p.Mode = engine.DownloadNothingExcept
	default:
		return badRequest(wire.CodeBadRequest, "mode %q: want %s or %s", req.Mode, wire.PolicyEverythingExcept, wire.PolicyNothingExcept)
	}
	for _, f := range req.Filters {
		p.Filters = append(p.Filters, engine.KeyFilter{Key: []byte(f.Key), Prefix: f.Prefix})
	}
	d, err := s.doc(r)
	if err != nil {
		return err
	}
	if err := d.SetDownloadPolicy(r.Context(), p); err != nil {
		return err
	}
	return s.getPolicy(w, r)
}
