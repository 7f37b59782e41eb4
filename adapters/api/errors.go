package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is the body of every error response.
type apiError struct {
	RequestID string        `json:"requestId"`
	Message   string        `json:"message"`
	Errors    []problemJSON `json:"errors,omitempty"`
}

// problemJSON is one problem of an instance body.
type problemJSON struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, status, apiError{RequestID: requestID(r.Context()), Message: msg})
}

// writeJSON writes v as the response. HTML characters are not escaped: poller URLs hold '&'.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"Internal error encoding the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
