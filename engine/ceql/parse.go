package ceql

import "fmt"

// Parse parses a CEQL where clause. Every error it returns is an *Error
// whose message says what was expected and what was found; syntax is
// checked strictly left to right, so the error is the first one in the
// source.
func Parse(s string) (Node, error) {
	p := &parser{lx: newLexer(s)}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.expected("AND, OR or end of input")
	}
	return n, nil
}

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lx  *lexer
	tok token // current token
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// expected reports that the current token is not what the grammar wants.
func (p *parser) expected(what string) error {
	return &Error{Pos: p.tok.pos, Msg: fmt.Sprintf("expected %s, found %s", what, p.tok.describe())}
}

// or := and ( OR and )*
func (p *parser) or() (Node, error) {
	ops, err := p.list("OR", p.and)
	switch {
	case err != nil:
		return nil, err
	case len(ops) == 1:
		return ops[0], nil
	}
	return &Or{P: ops[0].Pos(), Operands: ops}, nil
}

// and := unary ( AND unary )*
func (p *parser) and() (Node, error) {
	ops, err := p.list("AND", p.unary)
	switch {
	case err != nil:
		return nil, err
	case len(ops) == 1:
		return ops[0], nil
	}
	return &And{P: ops[0].Pos(), Operands: ops}, nil
}

// list parses operand ( kw operand )*.
func (p *parser) list(kw string, operand func() (Node, error)) ([]Node, error) {
	var ops []Node
	for {
		n, err := operand()
		if err != nil {
			return nil, err
		}
		ops = append(ops, n)
		if !p.tok.is(kw) {
			return ops, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// unary := NOT unary | '(' expr ')' | predicate
func (p *parser) unary() (Node, error) {
	switch {
	case p.tok.is("NOT"):
		pos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{P: pos, X: x}, nil
	case p.tok.kind == tokLParen:
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.expected(fmt.Sprintf("AND, OR or \")\" to close \"(\" at %s", open))
		}
		return x, p.advance()
	case p.tok.kind == tokQuoted, p.tok.kind == tokWord && !isKeyword(p.tok.text):
		return p.predicate()
	}
	return nil, p.expected(`field, NOT or "("`)
}

// predicate := field op value | field [NOT] IN (...) | field [NOT] LIKE string | field IS [NOT] NULL
func (p *parser) predicate() (Node, error) {
	field, pos := p.tok.text, p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch {
	case p.tok.kind == tokOp:
		op := p.tok.text
		if op == "<>" {
			op = "!="
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		v, err := p.value("value after " + op)
		if err != nil {
			return nil, err
		}
		return &Compare{P: pos, Field: field, Op: op, Value: v}, nil
	case p.tok.is("NOT"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		switch {
		case p.tok.is("IN"):
			return p.in(pos, field, true)
		case p.tok.is("LIKE"):
			return p.like(pos, field, true)
		}
		return nil, p.expected("IN or LIKE after NOT")
	case p.tok.is("IN"):
		return p.in(pos, field, false)
	case p.tok.is("LIKE"):
		return p.like(pos, field, false)
	case p.tok.is("IS"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		not := p.tok.is("NOT")
		want := "NULL or NOT NULL after IS"
		if not {
			if err := p.advance(); err != nil {
				return nil, err
			}
			want = "NULL after IS NOT"
		}
		if !p.tok.is("NULL") {
			return nil, p.expected(want)
		}
		return &IsNull{P: pos, Field: field, Not: not}, p.advance()
	}
	return nil, p.expected("comparison operator (=, !=, <>, <, >, <=, >=), IN, NOT IN, LIKE, NOT LIKE or IS")
}

// in parses '(' value (',' value)* ')' after the IN keyword (current).
func (p *parser) in(pos Pos, field string, not bool) (Node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLParen {
		return nil, p.expected(`"(" after IN`)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n := &In{P: pos, Field: field, Not: not}
	for {
		v, err := p.value("value in IN list")
		if err != nil {
			return nil, err
		}
		n.Values = append(n.Values, v)
		switch p.tok.kind {
		case tokComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tokRParen:
			return n, p.advance()
		default:
			return nil, p.expected(`"," or ")" in IN list`)
		}
	}
}

// like parses the pattern after the LIKE keyword (current).
func (p *parser) like(pos Pos, field string, not bool) (Node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokString {
		return nil, p.expected("string pattern after LIKE")
	}
	n := &Like{P: pos, Field: field, Not: not, Pattern: p.tok.text}
	return n, p.advance()
}

// value := string | number | true | false | null
func (p *parser) value(what string) (Value, error) {
	t := p.tok
	var v Value
	switch {
	case t.kind == tokString:
		v = Value{Kind: String, Str: t.text}
	case t.kind == tokNumber:
		v = Value{Kind: Number, Num: t.num, Raw: t.text}
	case t.is("TRUE"), t.is("FALSE"):
		v = Value{Kind: Bool, Bool: t.is("TRUE")}
	case t.is("NULL"):
		v = Value{Kind: Null}
	default:
		return Value{}, p.expected(what)
	}
	v.P = t.pos
	return v, p.advance()
}
