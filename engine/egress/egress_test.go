package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckURLRefusesInternalForms(t *testing.T) {
	p, err := New(Options{Self: []string{"203.0.114.7:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	refused := []string{
		"http://127.0.0.1/", "http://127.0.0.1:8080/internal#", "http://localhost/", "http://api.localhost/",
		"http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::127.0.0.1]/",
		"http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://0.0.0.0/", "http://[::]/",
		"http://169.254.169.254/latest/meta-data", "http://[fe80::1%25eth0]/", "http://[fd00::1]/",
		"http://10.0.0.1/", "http://172.16.3.4/", "http://192.168.1.1/", "http://100.64.0.1/",
		"http://224.0.0.1/", "http://255.255.255.255/", "http://2130706433/", "http://0x7f000001/",
		"http://0177.0.0.1/", "http://127.1/", "http://0x7f.0.0.1/", "http://017700000001/",
		"gopher://example.com/", "ftp://example.com/", "file:///etc/passwd", "http://example.com:99999/",
		"http://example.com:0/", "https://example.com/x#frag", "http://203.0.114.7:8080/", "//example.com/",
		"http:///path", "http://example.com:/",
	}
	for _, u := range refused {
		if err := p.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) allowed", u)
		}
	}
	allowed := []string{"https://acme.freshdesk.com", "http://example.com:8080/x?y=1", "https://93.184.216.34/",
		"https://[2606:4700::1]/", "https://user:pass@example.com/", "http://203.0.114.7:8081/"}
	for _, u := range allowed {
		if err := p.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q): %v", u, err)
		}
	}
}

func TestPolicyOpenedByTheOperator(t *testing.T) {
	p, err := New(Options{AllowPrivate: true, AllowHosts: []string{"vendor.internal", "*.corp.example", "169.254.10.0/24"},
		Self: []string{"127.0.0.1:8080", ":9090"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:8081/", "http://10.1.2.3/", "http://[fd00::1]/", "http://vendor.internal/",
		"http://a.corp.example/", "http://169.254.10.5/", "http://localhost:3000/"} {
		if err := p.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q): %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/", "http://localhost:8080/", "http://127.0.0.1:9090/", "http://169.254.169.254/",
		"http://0.0.0.0:8081/", "http://224.0.0.1/", "http://2130706433/"} {
		if err := p.CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) allowed", u)
		}
	}
	if _, err := New(Options{AllowHosts: []string{"10.0.0.0/33"}}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestDialerRefusesANameThatResolvesToLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("internal")) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	// "localhost" passes no write-time check here on purpose: the dialer must refuse it by what it
	// resolves to.
	d := &Dialer{Policy: p}
	_, err = d.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("dial localhost: %v, want ErrRefused", err)
	}
	if !strings.Contains(err.Error(), "localhost resolves to a refused address") {
		t.Errorf("error does not say what the name resolved to: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	if _, err := hc.Get(srv.URL); !errors.Is(err, ErrRefused) {
		t.Errorf("GET %s: %v, want ErrRefused", srv.URL, err)
	}
	// Opened, the same dial goes through; the server's own listener stays refused.
	open, _ := New(Options{AllowPrivate: true, Self: []string{srv.Listener.Addr().String()}})
	d2 := &Dialer{Policy: open}
	if _, err := d2.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port)); !errors.Is(err, ErrRefused) {
		t.Errorf("dial own listener: %v, want ErrRefused", err)
	}
	open2, _ := New(Options{AllowPrivate: true})
	c, err := (&Dialer{Policy: open2}).DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("dial with private networks allowed: %v", err)
	}
	c.Close()
}

func TestLegacyIPv4(t *testing.T) {
	for in, want := range map[string]string{"2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"127.1": "127.0.0.1", "10.0x10.1": "10.16.0.1", "0": "0.0.0.0"} {
		a, ok := legacyIPv4(in)
		if !ok || a.String() != want {
			t.Errorf("legacyIPv4(%q) = %v %v, want %s", in, a, ok, want)
		}
	}
	for _, in := range []string{"example.com", "1.2.3.4.5", "256.1.1.1", "1..2", "4294967296"} {
		if a, ok := legacyIPv4(in); ok {
			t.Errorf("legacyIPv4(%q) = %v", in, a)
		}
	}
}
