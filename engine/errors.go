package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// FieldError is a problem with one value of a definition or instance body, located by a JSON
// pointer (RFC 6901) into the document that holds it.
type FieldError struct {
	Pointer string // e.g. "/where/updated_since/param"; "" is the whole document
	Msg     string
	Err     error // the cause, when there is one
}

func (e *FieldError) Error() string {
	p := e.Pointer
	if p == "" {
		p = "/"
	}
	return p + ": " + e.Msg
}

func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every problem found in one document. It is returned as a whole so that users see all
// of their mistakes at once, not only the first.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort orders the errors by pointer, keeping the order of errors at the same pointer.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Pointer < es[j].Pointer })
}

// Err returns es as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// AsErrors flattens err into field errors: an Errors value is returned as it is, a single
// *FieldError as a list of one, anything else as one error at the document root.
func AsErrors(err error) Errors {
	if err == nil {
		return nil
	}
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return Errors{fe}
	}
	return Errors{{Msg: err.Error(), Err: err}}
}

// errs collects field errors under a pointer prefix.
type errs struct{ list Errors }

func (c *errs) add(pointer string, format string, args ...any) {
	c.list = append(c.list, &FieldError{Pointer: pointer, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) wrap(pointer string, err error) {
	c.list = append(c.list, &FieldError{Pointer: pointer, Msg: err.Error(), Err: err})
}

// Pointer joins JSON pointer tokens, escaping "~" and "/" as RFC 6901 asks.
func Pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}
