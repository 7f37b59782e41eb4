package ceql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF     tokenKind = iota
	tokWord              // identifier, dotted path or keyword; text as written
	tokQuoted            // quoted field; text is the unquoted name
	tokString            // string literal; text is the unquoted contents
	tokNumber            // number; text as written, num parsed
	tokOp                // comparison operator; text as written
	tokLParen            // (
	tokRParen            // )
	tokComma             // ,
	tokIllegal           // a character or operator that is not part of CEQL
)

type token struct {
	kind tokenKind
	text string
	num  float64
	pos  Pos
}

// is reports whether t is the keyword kw (upper case), ignoring case.
func (t token) is(kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

// describe names t for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokWord:
		if isKeyword(t.text) {
			return "keyword " + strings.ToUpper(t.text)
		}
		return "identifier " + strconv.Quote(t.text)
	case tokQuoted:
		return "quoted field " + strconv.Quote(t.text)
	case tokString:
		s := t.text
		if utf8.RuneCountInString(s) > 30 {
			s = string([]rune(s)[:30]) + "..."
		}
		return "string " + strconv.Quote(s)
	case tokNumber:
		return "number " + t.text
	case tokIllegal:
		if strings.ContainsAny(t.text[:1], "=!<>") {
			return "unknown operator " + strconv.Quote(t.text)
		}
		return "unexpected character " + strconv.Quote(t.text)
	}
	return strconv.Quote(t.text) // operators and punctuation
}

// lexer splits a where clause into tokens on demand, so that the first
// error in source order is the one reported.
type lexer struct {
	src  string
	off  int // byte offset of the next character
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

func (l *lexer) eof() bool { return l.off >= len(l.src) }

// peek returns the next byte, or 0 at end of input.
func (l *lexer) peek() byte {
	if l.eof() {
		return 0
	}
	return l.src[l.off]
}

// peekAt returns the byte i bytes ahead, or 0 past the end of input.
func (l *lexer) peekAt(i int) byte {
	if l.off+i >= len(l.src) {
		return 0
	}
	return l.src[l.off+i]
}

// advance moves past one character and returns its bytes.
func (l *lexer) advance() string {
	_, size := utf8.DecodeRuneInString(l.src[l.off:])
	s := l.src[l.off : l.off+size]
	l.off += size
	if s == "\n" {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return s
}

func (l *lexer) errorf(p Pos, format string, args ...any) *Error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next token, or an error for text that cannot be a token
// at all (an unterminated string, a malformed number, ...).
func (l *lexer) next() (token, error) {
	for !l.eof() && strings.IndexByte(" \t\r\n", l.peek()) >= 0 {
		l.advance()
	}
	start := l.pos()
	tok := func(kind tokenKind, text string) (token, error) {
		return token{kind: kind, text: text, pos: start}, nil
	}
	if l.eof() {
		return tok(tokEOF, "")
	}
	switch c := l.peek(); {
	case c == '(':
		return tok(tokLParen, l.advance())
	case c == ')':
		return tok(tokRParen, l.advance())
	case c == ',':
		return tok(tokComma, l.advance())
	case c == '\'':
		s, err := l.quoted('\'', "string literal")
		if err != nil {
			return token{}, err
		}
		return tok(tokString, s)
	case c == '`' || c == '"':
		s, err := l.quoted(c, "quoted field name")
		if err != nil {
			return token{}, err
		}
		if s == "" {
			return token{}, l.errorf(start, "expected field name between %c%c, found empty name", c, c)
		}
		return tok(tokQuoted, s)
	case isDigit(c) || c == '-' && isDigit(l.peekAt(1)):
		return l.number()
	case isIdentStart(c):
		return l.word()
	case strings.IndexByte("=!<>", c) >= 0:
		begin := l.off
		for !l.eof() && strings.IndexByte("=!<>", l.peek()) >= 0 {
			l.advance()
		}
		switch op := l.src[begin:l.off]; op {
		case "=", "!=", "<>", "<", ">", "<=", ">=":
			return tok(tokOp, op)
		default:
			return tok(tokIllegal, op)
		}
	default:
		return tok(tokIllegal, l.advance())
	}
}

// quoted reads a literal enclosed in q, with q doubled inside, and returns
// its contents byte for byte.
func (l *lexer) quoted(q byte, what string) (string, error) {
	start := l.pos()
	l.advance()
	var b strings.Builder
	for {
		if l.eof() {
			return "", l.errorf(start, "unterminated %s: expected closing %c before end of input", what, q)
		}
		if l.peek() == q {
			l.advance()
			if l.peek() != q {
				return b.String(), nil
			}
		}
		b.WriteString(l.advance())
	}
}

// number reads -?digits(.digits)?([eE][+-]?digits)?.
func (l *lexer) number() (token, error) {
	start, begin := l.pos(), l.off
	digits := func(after string) error {
		if !isDigit(l.peek()) {
			return l.errorf(start, "malformed number %q: expected digit after %q", l.src[begin:l.off], after)
		}
		for isDigit(l.peek()) {
			l.advance()
		}
		return nil
	}
	if l.peek() == '-' {
		l.advance()
	}
	if err := digits("-"); err != nil {
		return token{}, err
	}
	if l.peek() == '.' {
		l.advance()
		if err := digits("."); err != nil {
			return token{}, err
		}
	}
	if c := l.peek(); c == 'e' || c == 'E' {
		l.advance()
		if c := l.peek(); c == '+' || c == '-' {
			l.advance()
		}
		if err := digits(l.src[l.off-1 : l.off]); err != nil {
			return token{}, err
		}
	}
	raw := l.src[begin:l.off]
	if c := l.peek(); isIdentChar(c) || c == '.' {
		end := l.off
		for end < len(l.src) && (isIdentChar(l.src[end]) || l.src[end] == '.') {
			end++
		}
		return token{}, l.errorf(start, "malformed number %q: expected a number followed by space, operator or end of input", l.src[begin:end])
	}
	num, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return token{}, l.errorf(start, "number %s is out of range", raw)
	}
	return token{kind: tokNumber, text: raw, num: num, pos: start}, nil
}

// word reads identifier ( '.' identifier )*.
func (l *lexer) word() (token, error) {
	start, begin := l.pos(), l.off
	for {
		l.advance() // identifier start, checked by the caller or below
		for isIdentChar(l.peek()) {
			l.advance()
		}
		if l.peek() != '.' {
			break
		}
		l.advance()
		if !isIdentStart(l.peek()) {
			found := "end of input"
			if !l.eof() {
				r, _ := utf8.DecodeRuneInString(l.src[l.off:])
				found = strconv.QuoteRune(r)
			}
			return token{}, l.errorf(l.pos(), "expected identifier after \".\" in field name %q, found %s", l.src[begin:l.off], found)
		}
	}
	return token{kind: tokWord, text: l.src[begin:l.off], pos: start}, nil
}
