package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/docsnode/docsnode/api/wire"
)

// RequireToken wraps h so that every request but GET /healthz must carry
// "Authorization: Bearer <token>". A missing or wrong token is refused
// with 401 and code "unauthorized". The comparison takes the same time
// whatever the token sent: both sides are hashed first, so neither their
// lengths nor a common prefix shows in the timing.
func RequireToken(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="docsnode"`)
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: wire.CodeUnauthorized,
				Message: "missing or wrong bearer token: send the token from the daemon's api-token file as 'Authorization: Bearer TOKEN'"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
