package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/docsnode/docsnode/api/wire"
	"github.com/docsnode/docsnode/engine"
)

func (s *Server) authorRoutes(h func(string, func(http.ResponseWriter, *http.Request) error)) {
	h("POST /v1/authors", s.createAuthor)
	h("PUT /v1/authors/default", s.setDefaultAuthor)
	h("POST /v1/authors/import", s.importAuthor)
	h("POST /v1/authors/{author}/export", s.exportAuthor)
	h("DELETE /v1/authors/{author}", s.deleteAuthor)
}

// pathAuthor parses the {author} path parameter.
func pathAuthor(r *http.Request) (engine.AuthorID, error) {
	v := r.PathValue("author")
	id, err := engine.ParseAuthorID(v)
	if err != nil {
		return id, badRequest(wire.CodeBadAuthorID, "%q is not an author id (64 hex characters)", v)
	}
	return id, nil
}

func authorNotFound(id engine.AuthorID) *Error {
	return &Error{Status: http.StatusNotFound, Code: wire.CodeAuthorNotFound, Message: fmt.Sprintf("no author %s is held here", id)}
}

func (s *Server) createAuthor(w http.ResponseWriter, r *http.Request) error {
	a, err := s.e.Authors().Create(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, wire.Author{ID: a.ID().String()})
}

func (s *Server) setDefaultAuthor(w http.ResponseWriter, r *http.Request) error {
	var req wire.Author
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	id, err := engine.ParseAuthorID(req.ID)
	if err != nil {
		return badRequest(wire.CodeBadAuthorID, "%q is not an author id (64 hex characters)", req.ID)
	}
	defer s.forgetDefault()
	if err := s.e.Authors().SetDefault(r.Context(), id); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return authorNotFound(id)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Author{ID: id.String()})
}

func (s *Server) importAuthor(w http.ResponseWriter, r *http.Request) error {
	var req wire.AuthorSecret
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	a, err := engine.ParseAuthor(req.Secret)
	if err != nil {
		// Neither the secret nor the parser's words about it are echoed.
		return badRequest(wire.CodeBadRequest, "the author secret is not 64 hex characters as 'author export' prints it")
	}
	if err := s.e.Authors().Import(r.Context(), a); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Author{ID: a.ID().String()})
}

func (s *Server) exportAuthor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathAuthor(r)
	if err != nil {
		return err
	}
	a, err := s.e.Authors().Export(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return authorNotFound(id)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, wire.AuthorSecret{Secret: a.ExportSecret()})
}

func (s *Server) deleteAuthor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathAuthor(r)
	if err != nil {
		return err
	}
	s.forgetDefault()
	def, err := s.e.Authors().Default(r.Context())
	if err != nil {
		return err
	}
	if def.ID() == id {
		return &Error{Status: http.StatusConflict, Code: wire.CodeIsDefault, Message: "this is the default author: make another the default first"}
	}
	if err := s.e.Authors().Delete(r.Context(), id); err != nil {
		if errors.Is(err, engine.ErrNotFound) {
			return authorNotFound(id)
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
