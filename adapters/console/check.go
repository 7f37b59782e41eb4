package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/pollen-hq/pollen/definitions"
)

// maxCheckBody is the largest body POST /console/check reads, as the API's default.
const maxCheckBody = 1 << 20

// checkProblem is one problem of a checked body.
type checkProblem struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// check serves POST /console/check, for forms that check what is typed before it is sent: the
// body is an instance body as the form would send it, loaded against the current catalog through
// definitions.LoadInstance, the load path of POST /instances, and the answer is
// {"problems": [{"pointer", "message"}]}, empty when the body would load. Nothing is stored. It
// takes the session and its CSRF header, like the API.
func (c *Console) check(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.sessions.SessionUser(r); !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Sign in first"})
		return
	}
	if c.catalog == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Checking is not configured"})
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCheckBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Body too large"})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Cannot read the body"})
		return
	}
	_, probs := definitions.LoadInstance(c.catalog(), "body", data)
	out := make([]checkProblem, 0, len(probs))
	for _, p := range probs {
		out = append(out, checkProblem{Pointer: p.Pointer, Message: p.Message})
	}
	writeJSON(w, http.StatusOK, map[string]any{"problems": out})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"Internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
