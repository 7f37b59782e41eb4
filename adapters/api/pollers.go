package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/pollen-hq/pollen/definitions"
)

// skipRecord serves POST /instances/{id}/pollers/{resource}/skip with {"record": "<heldRecord>"}:
// an operator lets a job read past a record that does not read and holds it (the heldRecord its
// pollers show). 200 {"objectType", "record"}; 404 for an instance the principal does not see or a
// job it does not run.
func (s *Server) skipRecord(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, r, http.StatusNotFound, "No instance found with id "+r.PathValue("id"))
		return
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var body struct {
		Record string `json:"record"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		s.badRequest(w, r, "Invalid skip", []definitions.Problem{{Pointer: "/record", Message: "the body must be {\"record\": \"<heldRecord>\"}"}})
		return
	}
	if err := s.svc.SkipRecord(r.Context(), principal(r.Context()), id, r.PathValue("resource"), body.Record); err != nil {
		s.serviceError(w, r, err, "skip a held record")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"objectType": r.PathValue("resource"), "record": body.Record})
}
