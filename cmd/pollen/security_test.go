package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/rig"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/tenants"
)

// An attacker's view of a running server with the default egress policy: these tests do what
// the security review of issue 14 did, and expect the opposite outcome.

const (
	secUser = "sec-user-5b0e-4d1a-9c3f-77e2a1"
	secOrg  = "sec-org-8f21-4a6c-b0d9-13c5e4"
)

// secServer runs a server with the default (closed) egress policy; opt adjusts its config. It
// returns the server and its data directory.
func secServer(t *testing.T, opt ...func(*server.Config)) (*rig.Pollen, string) {
	t.Helper()
	cfg := server.Config{DataDir: t.TempDir(), UserSecret: secUser, OrgSecret: secOrg}
	for _, f := range opt {
		f(&cfg)
	}
	return rig.Start(t, cfg), cfg.DataDir
}

// secClient calls srv's API as its bootstrap admin.
func secClient(t *testing.T, srv *rig.Pollen) *rig.Client {
	return &rig.Client{T: t, URL: srv.URL(), User: secUser, Org: secOrg}
}

// body is the seed example body with configuration values replaced (nil removes a key).
func secBody(t *testing.T, conf map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"element": map[string]any{"key": "freshdeskv2"}, "name": "sec", "configuration": map[string]any{
		"subdomain": "acme", "username": "fd-key-SECRET-5e1a", "event.notification.callback.url": "https://hooks.example.com/in",
		"event.notification.signature.key": "sig-SECRET-9c0d", "event.poller.refresh_interval": "15",
	}}
	c := body["configuration"].(map[string]any)
	for k, v := range conf {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return body
}

type problemsAnswer struct {
	Message string `json:"message"`
	Errors  []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestAttackerInternalAddressesRefused(t *testing.T) {
	srv, _ := secServer(t)
	c := secClient(t, srv)
	_, port, _ := net.SplitHostPort(srv.Addr())
	forms := []string{"http://127.0.0.1:" + port + "/internal#", "http://localhost/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
		"http://[fd00::1]/", "http://10.0.0.1/", "http://192.168.0.1/", "http://100.64.1.1/", "http://2130706433/", "http://0x7f000001/",
		"http://0177.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "gopher://example.com/", "ftp://example.com/",
		"http://example.com:99999/", "file:///etc/passwd", "http://224.0.0.1/"}
	for _, key := range []string{"base.url", engine.KeyCallbackURL} {
		for _, u := range forms {
			status, out := c.Do("POST", "/instances", secBody(t, map[string]any{key: u}))
			var a problemsAnswer
			_ = json.Unmarshal(out, &a)
			if status != 400 || len(a.Errors) != 1 || a.Errors[0].Pointer != "/configuration/"+key {
				t.Errorf("%s = %s: %d %s", key, u, status, out)
			}
		}
	}
	for _, sub := range []string{"127.0.0.1:18104/x#", "a.b", "x/y", "acme#", "-acme"} {
		status, out := c.Do("POST", "/instances", secBody(t, map[string]any{"subdomain": sub}))
		if status != 400 || !strings.Contains(string(out), `"/configuration/subdomain"`) {
			t.Errorf("subdomain %q: %d %s", sub, status, out)
		}
	}
	if status, out := c.Do("POST", "/instances", secBody(t, nil)); status != 200 {
		t.Fatalf("a public body: %d %s", status, out)
	}
}

func TestAttackerBadBodies(t *testing.T) {
	srv, _ := secServer(t)
	c := secClient(t, srv)
	for _, v := range []string{"NaN", "Infinity", "1e20", "0.0000001", "-1"} {
		status, out := c.Do("POST", "/instances", secBody(t, map[string]any{engine.KeyRefreshInterval: v}))
		if status != 400 || !strings.Contains(string(out), engine.KeyRefreshInterval) {
			t.Errorf("interval %s: %d %s", v, status, out)
		}
	}
	body := secBody(t, map[string]any{engine.KeyRefreshInterval: "-1", engine.KeyCallbackURL: "file:///etc/passwd"})
	body["tags"] = []any{1}
	status, out := c.Do("POST", "/instances", body)
	var a problemsAnswer
	_ = json.Unmarshal(out, &a)
	if status != 400 || len(a.Errors) != 3 {
		t.Errorf("three faults: %d %s", status, out)
	}
	// The string form of the poller configuration gets the schema's checks too.
	status, out = c.Do("POST", "/instances", secBody(t, map[string]any{engine.KeyPollerConfig: `{"incidents":{"idField":7}}`}))
	if status != 400 || !strings.Contains(string(out), "/configuration/event.poller.configuration/incidents/idField") {
		t.Errorf("string form: %d %s", status, out)
	}
	for _, p := range []string{"yyyy-MM-dd#HH", "{yyyy}"} {
		status, out = c.Do("POST", "/instances", secBody(t, map[string]any{engine.KeyPollerConfig: map[string]any{"incidents": map[string]any{
			"datesConfiguration": map[string]any{"updatedDateFormat": p}}}}))
		if status != 400 {
			t.Errorf("date pattern %q: %d %s", p, status, out)
		}
	}
	raw := `{"element":{"key":"freshdeskv2"},"configuration":{"subdomain":"acme","username":"k` + "\xff\xfe" + `y"}}`
	if status, out := c.Do("POST", "/instances", raw); status != 400 || !strings.Contains(string(out), "/configuration/username") {
		t.Errorf("invalid UTF-8: %d %s", status, out)
	}
}

// resolvesToLoopback returns a name that is not written as a loopback address but resolves to
// one on this machine (its host name, from /etc/hosts), or "" when there is none.
func resolvesToLoopback() string {
	names := []string{"ip6-localhost", "ip6-loopback"}
	if h, err := os.Hostname(); err == nil {
		names = append([]string{h}, names...)
	}
	for _, n := range names {
		if n == "localhost" {
			continue
		}
		addrs, err := net.LookupHost(n)
		if err != nil || len(addrs) == 0 {
			continue
		}
		if ip := net.ParseIP(addrs[0]); ip != nil && ip.IsLoopback() {
			return n
		}
	}
	return ""
}

// A name that resolves to loopback passes the write-time check (names are not resolved then)
// and is refused when Pollen connects: the vendor simulator behind it gets no request.
func TestAttackerNameResolvingToLoopbackRefusedAtConnect(t *testing.T) {
	name := resolvesToLoopback()
	if name == "" {
		t.Skip("no name on this machine resolves to a loopback address")
	}
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`[{"id":1,"secret":"internal"}]`))
	}))
	defer internal.Close()
	_, port, _ := net.SplitHostPort(internal.Listener.Addr().String())
	srv, _ := secServer(t, func(c *server.Config) { c.MinInterval = 100 * time.Millisecond })
	c := secClient(t, srv)
	status, out := c.Do("POST", "/instances", secBody(t, map[string]any{"base.url": "http://" + name + ":" + port,
		engine.KeyRefreshInterval: "0.002"}))
	if status != 200 {
		t.Fatalf("create: %d %s", status, out)
	}
	var in struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal(out, &in)
	// The hub API reads the vendor as the pollers do: refused, and says why.
	hub := &rig.Client{T: t, URL: c.URL, User: secUser, Org: secOrg, Element: in.Token}
	status, out = hub.Do("GET", "/hubs/helpdesk/incidents", nil)
	if status != 502 || !strings.Contains(string(out), "refused address") || strings.Contains(string(out), "internal") {
		t.Errorf("hub call: %d %s", status, out)
	}
	rig.Until(t, "a poll refused at connect time", func() bool {
		_, out := c.Do("GET", fmt.Sprintf("/instances/%d", in.ID), nil)
		return strings.Contains(string(out), "resolves to a refused address")
	})
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal server got %d requests", n)
	}
}

func TestAttackerFindsNoSecretInTheDatabase(t *testing.T) {
	srv, dir := secServer(t)
	c := secClient(t, srv)
	body := secBody(t, map[string]any{"base.url": "https://bob:pw-SECRET-44f1@vendor.example.com",
		engine.KeyCallbackURL: "https://hooks.example.com/in?token=cb-SECRET-81aa"})
	status, out := c.Do("POST", "/instances", body)
	if status != 200 {
		t.Fatalf("create: %d %s", status, out)
	}
	secrets := []string{"fd-key-SECRET-5e1a", "sig-SECRET-9c0d", "pw-SECRET-44f1", "cb-SECRET-81aa", secUser, secOrg}
	for _, s := range secrets {
		if strings.Contains(string(out), s) {
			t.Errorf("%q in the answer: %s", s, out)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() == server.SecretsFile || e.Name() == server.KeysFile {
			continue // the operator's bootstrap secrets and the key: 0600, outside the database
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%q in clear in %s", s, e.Name())
			}
		}
		if fi, _ := e.Info(); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %04o", e.Name(), fi.Mode().Perm())
		}
	}
}

// A client that sends its request slowly is cut off by the server's read timeout, and so is one
// that sends nothing; the server goes on answering others.
func TestAttackerSlowClientCutOff(t *testing.T) {
	srv, _ := secServer(t, func(c *server.Config) {
		c.HTTP = server.HTTPLimits{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond}
	})
	addr := srv.Addr()
	for _, slow := range []string{"header", "body", "nothing"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(bufio.NewReader(conn)) // returns when the server closes
			closed <- err
		}()
		stop := make(chan struct{})
		go func() {
			w := func(s string) bool {
				select {
				case <-stop:
					return false
				case <-time.After(200 * time.Millisecond):
				}
				_, err := conn.Write([]byte(s))
				return err == nil
			}
			switch slow {
			case "header":
				for _, part := range []string{"GET /healthz HTTP/1.1\r\n", "Host: x\r\n", "X-A: 1\r\n", "X-B: 1\r\n", "X-C: 1\r\n", "X-D: 1\r\n"} {
					if !w(part) {
						return
					}
				}
			case "body":
				w("POST /instances HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
				for range 100 {
					if !w("x") {
						return
					}
				}
			}
		}()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Errorf("a client sending %s slowly is still connected", slow)
		}
		close(stop)
		conn.Close()
	}
	if resp, err := http.Get(srv.URL() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestWeakBootstrapSecretsRefused(t *testing.T) {
	for _, pair := range [][2]string{{"a", secOrg}, {secUser, "org-secret"}, {secUser, secUser}} {
		_, err := server.New(context.Background(), server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), UserSecret: pair[0], OrgSecret: pair[1]})
		if !errors.Is(err, tenants.ErrWeakSecret) {
			t.Errorf("%q, %q: %v", pair[0], pair[1], err)
		}
	}
	_, err := server.New(context.Background(), server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), UserSecret: "a", OrgSecret: secOrg})
	if err == nil || !strings.Contains(err.Error(), "POLLEN_USER_SECRET") || !strings.Contains(err.Error(), "at least 24") {
		t.Errorf("message: %v", err)
	}
}

func TestDamagedDatabaseRefused(t *testing.T) {
	srv, dir := secServer(t)
	c := secClient(t, srv)
	if status, out := c.Do("POST", "/instances", secBody(t, nil)); status != 200 {
		t.Fatalf("create: %d %s", status, out)
	}
	start := func(dir string) error {
		s, err := server.New(context.Background(), server.Config{Listen: "127.0.0.1:0", DataDir: dir, UserSecret: secUser, OrgSecret: secOrg})
		if err == nil {
			s.Close()
		}
		return err
	}
	// A zero-byte database where one was: refused, never a fresh start.
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, server.DBFile), nil, 0o600)
	if err := start(empty); err == nil || !strings.Contains(err.Error(), "0 bytes") {
		t.Errorf("zero-byte database: %v", err)
	}
	// The key file without its database: the database was lost.
	lost := t.TempDir()
	key, _ := os.ReadFile(filepath.Join(dir, server.KeysFile))
	os.WriteFile(filepath.Join(lost, server.KeysFile), key, 0o600)
	if err := start(lost); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("database missing beside its key: %v", err)
	}
}

// pollen users and pollen keys, from the command line: secrets printed once, kept as digests.
func TestUsersAndKeysCommands(t *testing.T) {
	srv, dir := secServer(t)
	c := secClient(t, srv)
	if status, out := c.Do("POST", "/instances", secBody(t, nil)); status != 200 {
		t.Fatalf("create: %d %s", status, out)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"users", "create", "--data-dir", dir, "--email", "eve@corp.example", "--org", "corp", "--admin"}, &out, &errOut); code != 0 {
		t.Fatalf("users create: %d %s", code, errOut.String())
	}
	var userSecret, orgSecret string
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "User secret: "); ok {
			userSecret = v
		}
		if v, ok := strings.CutPrefix(line, "Organization secret: "); ok {
			orgSecret = v
		}
	}
	if userSecret == "" || orgSecret == "" {
		t.Fatalf("no secrets printed:\n%s", out.String())
	}
	eve := &rig.Client{T: t, URL: srv.URL(), User: userSecret, Org: orgSecret}
	var list []map[string]any
	status, body := eve.Do("GET", "/instances", nil)
	json.Unmarshal(body, &list)
	if status != 200 || len(list) != 0 {
		t.Errorf("eve of another organization lists: %d %s", status, body)
	}
	out.Reset()
	if code := run(context.Background(), []string{"users", "list", "--data-dir", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "eve@corp.example") ||
		strings.Contains(out.String(), userSecret) {
		t.Errorf("users list: %d %s", code, out.String())
	}
	if code := run(context.Background(), []string{"users", "disable", "--data-dir", dir, "eve@corp.example"}, &out, &errOut); code != 0 {
		t.Fatalf("users disable: %d %s", code, errOut.String())
	}
	if status, _ := eve.Do("GET", "/instances", nil); status != 401 {
		t.Errorf("a disabled user: %d", status)
	}
	for _, f := range []string{server.DBFile, server.DBFile + "-wal"} {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		if bytes.Contains(data, []byte(userSecret)) || bytes.Contains(data, []byte(orgSecret)) {
			t.Errorf("a secret in clear in %s", f)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"users", "secret"}, &out, &errOut); code != 0 || tenants.CheckStrength(strings.TrimSpace(out.String())) != nil {
		t.Errorf("users secret: %d %q", code, out.String())
	}
}

func TestKeysRotate(t *testing.T) {
	s, dir := secServer(t)
	c := secClient(t, s)
	if status, out := c.Do("POST", "/instances", secBody(t, nil)); status != 200 {
		t.Fatalf("create: %d %s", status, out)
	}
	s.Stop()
	before, _ := os.ReadFile(filepath.Join(dir, server.KeysFile))
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"keys", "rotate", "--data-dir", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "1 instance configurations sealed") {
		t.Fatalf("keys rotate: %d %s %s", code, out.String(), errOut.String())
	}
	after, _ := os.ReadFile(filepath.Join(dir, server.KeysFile))
	if bytes.Equal(before, after) {
		t.Fatal("the key file did not change")
	}
	s, _ = secServer(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c = secClient(t, s)
	status, body := c.Do("GET", "/instances/1", nil)
	if status != 200 || !strings.Contains(string(body), `"username":"********"`) {
		t.Errorf("after rotation: %d %s", status, body)
	}
}
