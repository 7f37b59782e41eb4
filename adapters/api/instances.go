package api

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/definitions"
	"github.com/pollen-hq/pollen/engine"
)

// createInstance serves POST /instances: the body is loaded through definitions.LoadInstance,
// stored with its configuration as sent, handed to the runtime, and echoed in the platform's
// instance shape.
func (s *Server) createInstance(w http.ResponseWriter, r *http.Request) {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return
	}
	cat := s.rt.Catalog()
	in, probs := definitions.LoadInstance(cat, "body", data)
	if len(probs) > 0 {
		s.rejectBody(w, r, cat, data, probs)
		return
	}
	conf, err := bodyConfiguration(data)
	if err != nil { // LoadInstance accepted the body, so this is a defect
		s.internalError(w, r, "decode accepted body", err)
		return
	}
	now := s.now().UTC()
	rec := &sqlite.Instance{
		Name:          in.Name,
		Tags:          in.Tags,
		Token:         newToken(),
		ElementKey:    in.Element.Key,
		Configuration: conf,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := s.store.CreateInstance(r.Context(), rec); err != nil {
		s.internalError(w, r, "store instance", err)
		return
	}
	in.ID, in.Token, in.CreatedAt, in.Disabled = rec.ID, rec.Token, rec.CreatedAt, rec.Disabled
	s.rt.Apply(in)
	s.log.Info("instance created", "instance", in.ID, "element", in.Element.Key,
		"resources", len(in.Jobs), "requestId", requestID(r.Context()))
	writeJSON(w, http.StatusOK, s.view(in, conf))
}

// listInstances serves GET /instances: every instance, by id.
func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) {
	recs, err := s.store.Instances(r.Context())
	if err != nil {
		s.internalError(w, r, "list instances", err)
		return
	}
	slices.SortFunc(recs, func(a, b *sqlite.Instance) int { return cmp.Compare(a.ID, b.ID) })
	cat := s.rt.Catalog()
	out := make([]instanceJSON, 0, len(recs))
	for _, rec := range recs {
		out = append(out, s.viewStored(r, cat, rec))
	}
	writeJSON(w, http.StatusOK, out)
}

// getInstance serves GET /instances/{id}.
func (s *Server) getInstance(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.record(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.viewStored(r, s.rt.Catalog(), rec))
}

// record reads the stored instance the path's {id} names. It answers 404 or 500 itself and then
// returns false.
func (s *Server) record(w http.ResponseWriter, r *http.Request) (*sqlite.Instance, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, r, http.StatusNotFound, "No instance found with id "+strconv.Quote(r.PathValue("id")))
		return nil, false
	}
	rec, err := s.store.Instance(r.Context(), id)
	if errors.Is(err, sqlite.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, fmt.Sprintf("No instance found with id %d", id))
		return nil, false
	}
	if err != nil {
		s.internalError(w, r, "read instance", err)
		return nil, false
	}
	return rec, true
}

// Compile rebuilds the engine instance of a stored record against a catalog and sets the
// identity the body does not carry (ID, Token, CreatedAt, Disabled). It is how instances are
// resumed at startup. It loads the record through definitions.LoadStoredInstance: a job whose
// resource no longer loads is paused (engine.Instance.Paused) rather than failing the instance,
// so that an instance survives the removal of one resource file. Problems (the element is gone,
// the body no longer fits it) name the file "instance <id>".
func Compile(cat *engine.Catalog, rec *sqlite.Instance) (*engine.Instance, []definitions.Problem) {
	name := fmt.Sprintf("instance %d", rec.ID)
	body := storedBody{Name: rec.Name, Tags: rec.Tags, Configuration: rec.Configuration}
	body.Element.Key = rec.ElementKey
	if body.Configuration == nil {
		body.Configuration = map[string]any{}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, []definitions.Problem{{File: name, Message: "cannot encode the stored instance: " + err.Error()}}
	}
	in, probs := definitions.LoadStoredInstance(cat, name, data)
	if len(probs) > 0 {
		return nil, probs
	}
	in.ID, in.Token, in.CreatedAt, in.Disabled = rec.ID, rec.Token, rec.CreatedAt, rec.Disabled
	return in, nil
}

// storedBody is the instance body a stored record stands for.
type storedBody struct {
	Element struct {
		Key string `json:"key"`
	} `json:"element"`
	Name          string         `json:"name"`
	Tags          []string       `json:"tags,omitempty"`
	Configuration map[string]any `json:"configuration"`
}

// view renders a compiled instance and the runtime's state of its jobs. conf is its configuration
// as sent.
func (s *Server) view(in *engine.Instance, conf map[string]any) instanceJSON {
	v := viewInstance(in, conf)
	v.Pollers = viewPollers(s.rt.Status(in.ID), secretValues(in.Element, conf))
	v.Valid, _ = s.rt.Valid(in.ID)
	v.Delivery = viewDelivery(s.rt, in.ID)
	return v
}

// viewStored renders a stored record: compiled against the current catalog when it still loads
// (jobs whose resource is gone show as paused pollers), otherwise from the record alone with
// valid false.
func (s *Server) viewStored(r *http.Request, cat *engine.Catalog, rec *sqlite.Instance) instanceJSON {
	in, probs := Compile(cat, rec)
	if len(probs) == 0 {
		return s.view(in, rec.Configuration)
	}
	el, _ := cat.Element(rec.ElementKey)
	secrets := secretValues(el, rec.Configuration)
	s.log.Warn("stored instance does not load with the current definitions", "instance", rec.ID,
		"element", rec.ElementKey, "problems", scrub(definitions.Describe(probs), secrets),
		"requestId", requestID(r.Context()))
	v := viewRecord(el, rec)
	v.Pollers = viewPollers(s.rt.Status(rec.ID), secrets)
	return v
}

// rejectBody answers 400 with every problem of a body. Messages are scrubbed of the secret values
// the body carries, should a message ever quote one.
func (s *Server) rejectBody(w http.ResponseWriter, r *http.Request, cat *engine.Catalog, data []byte, probs []definitions.Problem) {
	var secrets []string
	var body struct {
		Element       struct{ Key string }
		Configuration map[string]any
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&body) == nil {
		el, _ := cat.Element(body.Element.Key)
		secrets = secretValues(el, body.Configuration)
	}
	s.reject(w, r, probs, secrets)
}

// reject answers 400 with every problem of a body, messages scrubbed of secrets.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, probs []definitions.Problem, secrets []string) {
	e := apiError{RequestID: requestID(r.Context()), Errors: make([]problemJSON, len(probs))}
	for i, p := range probs {
		e.Errors[i] = problemJSON{Pointer: p.Pointer, Message: scrub(p.Message, secrets)}
	}
	e.Message = fmt.Sprintf("Invalid instance body: %d problems", len(probs))
	if len(probs) == 1 {
		ptr := e.Errors[0].Pointer
		if ptr == "" {
			ptr = "/"
		}
		e.Message = "Invalid instance body: 1 problem: " + ptr + ": " + e.Errors[0].Message
	}
	s.log.Info("instance body rejected", "problems", len(probs), "requestId", e.RequestID)
	writeJSON(w, http.StatusBadRequest, e)
}

// readBody reads the request body, at most s.maxBody bytes. It answers 413 or 400 itself and
// then returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooLarge := fmt.Sprintf("Request body is larger than %d bytes", s.maxBody)
	if r.ContentLength > s.maxBody {
		writeError(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	case err != nil:
		writeError(w, r, http.StatusBadRequest, "Cannot read the request body")
		return nil, false
	}
	return data, true
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	rid := requestID(r.Context())
	s.log.Error("request failed", "step", what, "error", err, "requestId", rid)
	writeError(w, r, http.StatusInternalServerError, "Internal error; quote request id "+rid)
}

// jsonContentType reports whether a Content-Type header allows a JSON body: absent,
// application/json, or an application/*+json type.
func jsonContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// bodyConfiguration returns a body's configuration as sent, numbers kept as json.Number so that
// they keep their exact digits.
func bodyConfiguration(data []byte) (map[string]any, error) {
	var body struct {
		Configuration map[string]any `json:"configuration"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, err
	}
	if body.Configuration == nil {
		body.Configuration = map[string]any{}
	}
	return body.Configuration, nil
}

// newToken returns an instance token: 32 random bytes, standard base64 (like the platform's
// "ABC/D..." tokens).
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b[:])
}
