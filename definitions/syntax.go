package definitions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/pollen-hq/pollen/engine"
)

// SyntaxProblem checks that data is one JSON value. When it is not, it returns where: the JSON
// pointer of the value being read when the text went wrong (an object's when it went wrong
// between its members), and a message with the line and column of the offending character. Every
// load path runs it first; a handler that decodes JSON of its own (a PATCH body) can too.
func SyntaxProblem(file string, data []byte) (Problem, bool) {
	if json.Valid(data) {
		return Problem{}, false
	}
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return Problem{}, false
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return Problem{File: file, Message: "not valid JSON: " + err.Error()}, true
	}
	// Offset counts the bytes read, the offending one included; at the end of the input there is
	// no offending character, and the position is just past the last one.
	at := int(se.Offset) - 1
	if at < 0 || se.Offset >= int64(len(data)) && se.Error() == "unexpected end of JSON input" {
		at = len(data)
	}
	line, col := position(data, at)
	return Problem{File: file, Pointer: pointerAt(data[:at]),
		Message: fmt.Sprintf("not valid JSON at line %d, column %d: %s", line, col, se.Error())}, true
}

// position returns the 1-based line and column (in characters) of byte offset at in data.
func position(data []byte, at int) (line, col int) {
	before := data[:at]
	line = 1 + bytes.Count(before, []byte("\n"))
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCount(before)
}

// pointerAt returns the JSON pointer of the value being read where a document's text is cut at
// prefix: a member's once its key is read, an array's element, or else the object itself.
func pointerAt(prefix []byte) string {
	type frame struct {
		object  bool
		key     string // object: the member being read
		haveKey bool   // object: a key was read and its value has not been yet
		index   int    // array: the element being read
	}
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].object {
				stack[n-1].haveKey = false
			} else {
				stack[n-1].index++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(prefix))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{object: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:top]
				valueDone()
			}
		case string:
			if top >= 0 && stack[top].object && !stack[top].haveKey {
				stack[top].key, stack[top].haveKey = t, true
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
	var tokens []string
	for _, f := range stack {
		switch {
		case !f.object:
			tokens = append(tokens, strconv.Itoa(f.index))
		case f.haveKey:
			tokens = append(tokens, f.key)
		}
	}
	return engine.Pointer(tokens...)
}
