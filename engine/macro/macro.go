// Package macro compiles and expands Cloud Elements poller URL macros such as
// ${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}, which a poll fills with the lower bound of its time
// window:
//
//	/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'
//
// The macros are:
//
//	${gmtDate:FMT}            the time in UTC, formatted with the Java date pattern FMT
//	${date:FMT}               the time in the template's server zone (Compile's argument)
//	${dateTimeZone:ZONE:FMT}  the time in ZONE (see javadate.ParseZone); ZONE may itself
//	                          contain colons ("-8:00"): it is the longest text before a colon
//	                          that is a valid zone
//	${epoch}, ${epoch:ms}     Unix time in milliseconds
//	${epoch:s}                Unix time in seconds
//	${epoch:us}               Unix time in microseconds
//
// FMT follows javadate: it may contain colons and quoted literals, and a '}' inside a quoted
// literal does not end the macro. The special formats "milliseconds" and "timestamp" work too.
// Text outside macros, including a '$' not followed by '{', is copied as is; there is no
// escape for a literal "${".
//
// A template is compiled once ([Compile]); expanding it ([Template.Expand],
// [Template.AppendExpand]) only formats.
package macro

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pollen-hq/pollen/engine/javadate"
)

// Error is a template error at a 1-based column of the template, counted in characters.
type Error struct {
	Template string // the template as given to Compile or Unmask
	Col      int    // 1-based column of the offending character
	Msg      string // what is wrong
	Err      error  // the underlying error, such as a *javadate.Error; may be nil
}

// Error returns the message with the template, the column and the underlying error.
func (e *Error) Error() string {
	s := fmt.Sprintf("macro template %q: column %d: %s", e.Template, e.Col, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

type macroKind uint8

const (
	kindDate  macroKind = iota // gmtDate, date, dateTimeZone: format in loc
	kindEpoch                  // epoch: Unix time in unit
)

// Macro is one compiled ${...} macro. It is immutable and safe for concurrent use.
type Macro struct {
	raw    string
	kind   macroKind
	layout *javadate.Layout
	loc    *time.Location
	unit   time.Duration // kindEpoch: time.Second, time.Millisecond or time.Microsecond
}

// String returns the raw "${...}" text of the macro.
func (m *Macro) String() string { return m.raw }

// AppendValue appends the macro's value for t to dst and returns the extended buffer.
func (m *Macro) AppendValue(dst []byte, t time.Time) []byte {
	if m.kind == kindEpoch {
		var v int64
		switch m.unit {
		case time.Second:
			v = t.Unix()
		case time.Microsecond:
			v = t.UnixMicro()
		default:
			v = t.UnixMilli()
		}
		return strconv.AppendInt(dst, v, 10)
	}
	return m.layout.AppendFormat(dst, t.In(m.loc))
}

// part is a literal text or a macro of a template.
type part struct {
	lit string
	m   *Macro // nil for a literal
}

// Template is a string with macros, compiled once. It is immutable and safe for concurrent
// use.
type Template struct {
	text   string
	parts  []part
	macros []*Macro
	masked string
	size   int // length of the literal text, plus an estimate for the macros
}

// Compile compiles a template. serverZone is the zone of ${date:FMT}; nil means UTC. A NUL
// character is not allowed, so that Masked is unambiguous. Errors are *Error.
func Compile(s string, serverZone *time.Location) (*Template, error) {
	if serverZone == nil {
		serverZone = time.UTC
	}
	if k := strings.IndexByte(s, 0); k >= 0 {
		return nil, &Error{Template: s, Col: col(s, k), Msg: "NUL character in template"}
	}
	b := builder{text: s}
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], "${")
		if k < 0 {
			b.literal(s[i:])
			break
		}
		b.literal(s[i : i+k])
		m, end, err := compileMacro(s, i+k, serverZone)
		if err != nil {
			return nil, err
		}
		b.macro(m)
		i = end
	}
	return b.template(), nil
}

// compileMacro compiles the macro whose "${" is at s[start:], returning the index after its
// '}'.
func compileMacro(s string, start int, serverZone *time.Location) (*Macro, int, error) {
	fail := func(pos int, err error, format string, args ...any) (*Macro, int, error) {
		return nil, 0, &Error{Template: s, Col: col(s, pos), Msg: fmt.Sprintf(format, args...), Err: err}
	}
	nameStart := start + 2
	j := nameStart
	for j < len(s) && ('a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z') {
		j++
	}
	name := s[nameStart:j]
	// The macro ends at the first '}' outside a quoted literal.
	end, quoted := -1, false
	for k := j; k < len(s); k++ {
		if s[k] == '\'' {
			quoted = !quoted
		} else if s[k] == '}' && !quoted {
			end = k
			break
		}
	}
	if end < 0 {
		if quoted {
			return fail(start, nil, "unterminated macro: no '}' after an unbalanced quote")
		}
		return fail(start, nil, "unterminated macro: no closing '}'")
	}
	m := &Macro{raw: s[start : end+1]}
	if name == "" {
		return fail(nameStart, nil, "expected a macro name after \"${\"")
	}
	if j != end && s[j] != ':' {
		return fail(j, nil, "expected ':' or '}' after macro name %q", name)
	}
	argStart := min(j+1, end) // after the ':'
	arg := s[argStart:end]
	switch name {
	case "epoch":
		m.kind = kindEpoch
		switch {
		case j == end || arg == "ms":
			m.unit = time.Millisecond
		case arg == "s":
			m.unit = time.Second
		case arg == "us":
			m.unit = time.Microsecond
		default:
			return fail(argStart, nil, "unknown epoch unit %q: want ms, s or us", arg)
		}
	case "gmtDate", "date":
		m.loc = time.UTC
		if name == "date" {
			m.loc = serverZone
		}
		if j == end || arg == "" {
			return fail(start, nil, "macro ${%s:FORMAT} needs a date format", name)
		}
		l, err := compileFormat(s, argStart, end)
		if err != nil {
			return nil, 0, err
		}
		m.layout = l
	case "dateTimeZone":
		if j == end {
			return fail(start, nil, "macro ${dateTimeZone:ZONE:FORMAT} needs a zone and a date format")
		}
		// ZONE is the longest text before a ':' that is a valid zone.
		zoneEnd := -1
		var firstErr error
		for k := argStart; k < end; k++ {
			if s[k] != ':' {
				continue
			}
			loc, err := javadate.ParseZone(s[argStart:k])
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			m.loc, zoneEnd = loc, k
		}
		if zoneEnd < 0 {
			if firstErr == nil {
				return fail(argStart, nil, "macro ${dateTimeZone:ZONE:FORMAT} needs a zone and a date format")
			}
			return fail(argStart, firstErr, "bad zone in ${dateTimeZone:ZONE:FORMAT}")
		}
		if zoneEnd+1 == end {
			return fail(start, nil, "macro ${dateTimeZone:ZONE:FORMAT} needs a date format")
		}
		l, err := compileFormat(s, zoneEnd+1, end)
		if err != nil {
			return nil, 0, err
		}
		m.layout = l
	default:
		return fail(start, nil, "unknown macro %q: want gmtDate, date, dateTimeZone or epoch", name)
	}
	return m, end + 1, nil
}

// compileFormat compiles the date format s[i:end] and places its errors in the template.
func compileFormat(s string, i, end int) (*javadate.Layout, error) {
	l, err := javadate.Compile(s[i:end])
	if err != nil {
		c := col(s, i)
		var je *javadate.Error
		if errors.As(err, &je) {
			c += je.Col - 1
		}
		return nil, &Error{Template: s, Col: c, Msg: "bad date format", Err: err}
	}
	return l, nil
}

// col is the 1-based character column of byte index i of s.
func col(s string, i int) int { return utf8.RuneCountInString(s[:i]) + 1 }

// builder assembles a Template.
type builder struct {
	text   string
	parts  []part
	macros []*Macro
	masked strings.Builder
	size   int
}

func (b *builder) literal(s string) {
	if s == "" {
		return
	}
	b.parts = append(b.parts, part{lit: s})
	b.masked.WriteString(s)
	b.size += len(s)
}

func (b *builder) macro(m *Macro) {
	b.masked.WriteString(Placeholder(len(b.macros)))
	b.parts = append(b.parts, part{m: m})
	b.macros = append(b.macros, m)
	b.size += 32
}

func (b *builder) template() *Template {
	return &Template{text: b.text, parts: b.parts, macros: b.macros, masked: b.masked.String(), size: b.size}
}

// String returns the template text as given to Compile (for a template made by Unmask, the
// text with the placeholders replaced by the macros' raw text).
func (t *Template) String() string { return t.text }

// HasMacros reports whether the template has at least one macro.
func (t *Template) HasMacros() bool { return len(t.macros) > 0 }

// Macros returns the template's macros in the order they appear; Placeholder(i) stands for
// the i-th in Masked.
func (t *Template) Macros() []*Macro { return append([]*Macro(nil), t.macros...) }

// Expand returns the template text with each macro replaced by its value for at. A template
// without macros returns its text without allocating.
func (t *Template) Expand(at time.Time) string {
	if len(t.macros) == 0 {
		return t.text
	}
	var buf [256]byte
	dst := buf[:0]
	if t.size > len(buf) {
		dst = make([]byte, 0, t.size)
	}
	return string(t.AppendExpand(dst, at))
}

// AppendExpand appends the expansion of the template for at to dst and returns the extended
// buffer.
func (t *Template) AppendExpand(dst []byte, at time.Time) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		if p.m == nil {
			dst = append(dst, p.lit...)
		} else {
			dst = p.m.AppendValue(dst, at)
		}
	}
	return dst
}

// Masked returns the template text with the i-th macro replaced by Placeholder(i), so that a
// parser that does not know macros (such as a query-language parser whose string literals use
// single quotes, which macros also contain) can parse the rest. Unmask turns a substring of
// the masked text back into a Template that refers to the same macros.
func (t *Template) Masked() string { return t.masked }

// Placeholder returns the text that stands for the i-th macro in Masked: "\x00" + i + "\x00".
// It contains no quote, space, '&', '=', '%', '+', '#', '?', '/' or '}', so it survives URL
// query splitting and unescaping and quoted-string parsing.
func Placeholder(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

// Unmask turns s, a substring of a Masked text, back into a Template whose i-th placeholder
// refers to macros[i]. The new template's Macros are those its placeholders name, in order of
// appearance, and its Masked text numbers them from 0 again. It is an error if a placeholder
// is malformed or its index is out of range. Errors are *Error.
func Unmask(s string, macros []*Macro) (*Template, error) {
	if !strings.Contains(s, "\x00") {
		return &Template{text: s, parts: literalParts(s), masked: s, size: len(s)}, nil
	}
	var text strings.Builder
	b := builder{}
	for i := 0; i < len(s); {
		k := strings.IndexByte(s[i:], 0)
		if k < 0 {
			b.literal(s[i:])
			text.WriteString(s[i:])
			break
		}
		b.literal(s[i : i+k])
		text.WriteString(s[i : i+k])
		start := i + k
		j := start + 1
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == start+1 || j >= len(s) || s[j] != 0 || j-start > 10 {
			return nil, &Error{Template: s, Col: col(s, start), Msg: "malformed macro placeholder"}
		}
		n, _ := strconv.Atoi(s[start+1 : j])
		if n >= len(macros) {
			return nil, &Error{Template: s, Col: col(s, start),
				Msg: fmt.Sprintf("macro placeholder %d out of range: %d macros", n, len(macros))}
		}
		if macros[n] == nil {
			return nil, &Error{Template: s, Col: col(s, start), Msg: fmt.Sprintf("macro placeholder %d has no macro", n)}
		}
		b.macro(macros[n])
		text.WriteString(macros[n].raw)
		i = j + 1
	}
	b.text = text.String()
	return b.template(), nil
}

func literalParts(s string) []part {
	if s == "" {
		return nil
	}
	return []part{{lit: s}}
}
