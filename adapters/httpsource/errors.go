package httpsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrPageCap is wrapped by the error List returns when the next page would exceed
// PagingSpec.MaxPages.
var ErrPageCap = errors.New("vendor page cap reached")

// maxErrorBody is how much of an error response body StatusError keeps.
const maxErrorBody = 1 << 10

// StatusError is a non-2xx vendor response. Code, Field and Message come from a Freshdesk-style
// body: {"code":"...","message":"..."}, or {"description":"...","errors":[{"field","message",
// "code"}]} whose first error gives Code, Field and Message.
type StatusError struct {
	Method  string
	URL     string // the request URL; userinfo passwords masked
	Status  int
	Code    string
	Field   string
	Message string
	Body    string // the body's first 1 KB
}

// Error describes the response without its body.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vendor: %s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func newStatusError(method, url string, status int, body []byte) *StatusError {
	e := &StatusError{Method: method, URL: url, Status: status}
	var fd struct {
		Code        string `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
		Errors      []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &fd) == nil {
		if len(fd.Errors) > 0 {
			e.Code, e.Field, e.Message = fd.Errors[0].Code, fd.Errors[0].Field, fd.Errors[0].Message
		} else {
			e.Code, e.Message = fd.Code, fd.Message
		}
		if e.Message == "" {
			e.Message = fd.Description
		}
	}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
		for len(body) > 0 && !utf8.Valid(body) { // do not cut a rune in half
			body = body[:len(body)-1]
		}
	}
	e.Body = string(body)
	return e
}
