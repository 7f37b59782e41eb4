package tenants

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckStrength(t *testing.T) {
	for _, weak := range []string{"a", "user-secret", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abcdefghijklmnopqrstuvwxyz",
		"123456789012345678901234567890", "correct horse battery staple x1", "abababababababababababab12"} {
		if err := CheckStrength(weak); !errors.Is(err, ErrWeakSecret) {
			t.Errorf("CheckStrength(%q) = %v", weak, err)
		}
	}
	for range 20 {
		if s := NewSecret(); CheckStrength(s) != nil || len(s) != 43 {
			t.Fatalf("generated secret %q refused: %v", s, CheckStrength(s))
		}
	}
	if err := CheckStrength("Tr0ub4dor&3-horse-battery-7"); err != nil {
		t.Error(err)
	}
	if err := CheckStrength("a"); !strings.Contains(err.Error(), "at least 24") {
		t.Errorf("message does not say what is needed: %v", err)
	}
}

func TestThrottle(t *testing.T) {
	th := NewThrottle(ThrottleOptions{Burst: 3, Every: time.Second, MaxClients: 2})
	now := time.Unix(1000, 0)
	for range 3 {
		if ok, _ := th.Allow("1.2.3.4", now); !ok {
			t.Fatal("refused within the burst")
		}
		th.Fail("1.2.3.4", now)
	}
	ok, wait := th.Allow("1.2.3.4", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("after the burst: allowed %v, wait %v", ok, wait)
	}
	if ok, _ := th.Allow("5.6.7.8", now); !ok {
		t.Error("another client is throttled")
	}
	if ok, _ := th.Allow("1.2.3.4", now.Add(time.Second)); !ok {
		t.Error("not allowed again after Every")
	}
	th.Fail("a", now)
	th.Fail("b", now) // past MaxClients: the oldest are forgotten, the map stays bounded
	if n := len(th.clients); n > 2 {
		t.Errorf("%d clients remembered, max 2", n)
	}
}
