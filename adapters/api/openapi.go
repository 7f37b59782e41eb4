package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 description of the whole API (openapi.json). openapi_test.go
// keeps it equal to the routes the server serves and checks real answers against its schemas.
//
//go:embed openapi.json
var openAPIDocument []byte

// getOpenAPI serves GET /openapi.json, without authentication: the document as embedded.
func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
