package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// hmacStandard computes the Standard Webhooks signature independently of the package:
// base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func hmacStandard(key []byte, id, ts, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// The test vector published with the Standard Webhooks reference libraries.
func TestSignStandardPublishedVector(t *testing.T) {
	const (
		key  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts   = "1614265330"
		body = `{"test": 2432232314}`
		want = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if got := SignStandard(key, id, ts, []byte(body)); got != want {
		t.Fatalf("SignStandard = %q, want %q", got, want)
	}
}

func TestSignStandard(t *testing.T) {
	const id, ts, body = "n-42", "1700000000", `{"id":"n-42","message":{"events":[]}}`
	// A plain key is used as its bytes.
	if got, want := SignStandard(vectorKey, id, ts, []byte(body)), hmacStandard([]byte(vectorKey), id, ts, body); got != want {
		t.Errorf("plain key: SignStandard = %q, want %q", got, want)
	}
	// A whsec_ key is the base64 of the secret bytes.
	secret := []byte("\x00\x01\x02 binary secret \xff\xfe")
	whsec := "whsec_" + base64.StdEncoding.EncodeToString(secret)
	got := SignStandard(whsec, id, ts, []byte(body))
	if want := hmacStandard(secret, id, ts, body); got != want {
		t.Errorf("whsec key: SignStandard = %q, want %q (HMAC with the decoded secret)", got, want)
	}
	if got == hmacStandard([]byte(whsec), id, ts, body) {
		t.Error("whsec key used as text, not decoded")
	}
	// A whsec_ key that is not base64 is used as its bytes.
	const bad = "whsec_not base64!"
	if got, want := SignStandard(bad, id, ts, []byte(body)), hmacStandard([]byte(bad), id, ts, body); got != want {
		t.Errorf("whsec_ key not in base64: SignStandard = %q, want %q", got, want)
	}
	// Every part is signed.
	base := SignStandard("k", id, ts, []byte(body))
	for name, other := range map[string]string{
		"id":        SignStandard("k", "n-43", ts, []byte(body)),
		"timestamp": SignStandard("k", id, "1700000001", []byte(body)),
		"body":      SignStandard("k", id, ts, []byte(body+" ")),
		"key":       SignStandard("k2", id, ts, []byte(body)),
	} {
		if other == base {
			t.Errorf("changing the %s leaves the signature unchanged", name)
		}
	}
}

func TestVerifyStandard(t *testing.T) {
	const id, key = "n-42", "current-key"
	body := []byte(`{"id":"n-42"}`)
	ts := time.Unix(1700000000, 0)
	const tolerance = 5 * time.Minute
	headers := func(keys ...string) http.Header {
		h := http.Header{}
		setStandardHeaders(h, id, ts, body, keys)
		return h
	}
	if !VerifyStandard(key, headers(key), body, ts, tolerance) {
		t.Fatal("a good notification is rejected")
	}
	// The headers as a receiver builds them by hand, with an independently computed signature.
	manual := http.Header{}
	manual.Set("Webhook-Id", id)
	manual.Set("Webhook-Timestamp", "1700000000")
	manual.Set("Webhook-Signature", "v1,"+hmacStandard([]byte(key), id, "1700000000", string(body)))
	if !VerifyStandard(key, manual, body, ts, tolerance) {
		t.Error("an independently signed notification is rejected")
	}

	for _, tc := range []struct {
		name string
		key  string
		h    http.Header
		body string
		now  time.Time
		want bool
	}{
		{name: "either key of a rotation: current", key: key, h: headers(key, "previous-key"), want: true},
		{name: "either key of a rotation: previous", key: "previous-key", h: headers(key, "previous-key"), want: true},
		{name: "wrong key", key: "other-key", h: headers(key)},
		{name: "wrong key, rotation", key: "other-key", h: headers(key, "previous-key")},
		{name: "tampered body", key: key, h: headers(key), body: `{"id":"n-43"}`},
		{name: "at the tolerance, late", key: key, h: headers(key), now: ts.Add(tolerance), want: true},
		{name: "at the tolerance, early", key: key, h: headers(key), now: ts.Add(-tolerance), want: true},
		{name: "stale", key: key, h: headers(key), now: ts.Add(tolerance + time.Second)},
		{name: "from the future", key: key, h: headers(key), now: ts.Add(-tolerance - time.Second)},
		{name: "no id", key: key, h: without(headers(key), HeaderStdID)},
		{name: "no timestamp", key: key, h: without(headers(key), HeaderStdTimestamp)},
		{name: "no signature", key: key, h: without(headers(key), HeaderStdSignature)},
		{name: "unsigned", key: key, h: headers()},
		{name: "other id", key: key, h: with(headers(key), HeaderStdID, "n-43")},
		{name: "other timestamp", key: key, h: with(headers(key), HeaderStdTimestamp, "1700000001"), now: ts},
		{name: "timestamp not a number", key: key, h: with(headers(key), HeaderStdTimestamp, "soon")},
		{name: "signature without v1", key: key, h: with(headers(key), HeaderStdSignature,
			SignStandard(key, id, "1700000000", body))},
		{name: "other version", key: key, h: with(headers(key), HeaderStdSignature,
			"v1a,"+SignStandard(key, id, "1700000000", body))},
		{name: "good signature among others", key: key, h: with(headers(key), HeaderStdSignature,
			"v1,AAAA v2,xyz v1,"+SignStandard(key, id, "1700000000", body)), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.body != "" {
				b = []byte(tc.body)
			}
			now := tc.now
			if now.IsZero() {
				now = ts.Add(30 * time.Second)
			}
			if got := VerifyStandard(tc.key, tc.h, b, now, tolerance); got != tc.want {
				t.Errorf("VerifyStandard = %v, want %v (headers %v)", got, tc.want, tc.h)
			}
		})
	}
}

// setStandardHeaders writes the Unix timestamp in seconds and one v1 signature per key, skipping
// empty keys.
func TestSetStandardHeaders(t *testing.T) {
	body := []byte(`{}`)
	ts := time.Unix(1700000000, 999e6)
	h := http.Header{}
	setStandardHeaders(h, "n", ts, body, []string{"a", "", "b"})
	unix := strconv.FormatInt(ts.Unix(), 10)
	want := "v1," + SignStandard("a", "n", unix, body) + " v1," + SignStandard("b", "n", unix, body)
	if h.Get(HeaderStdID) != "n" || h.Get(HeaderStdTimestamp) != unix || h.Get(HeaderStdSignature) != want {
		t.Errorf("headers %v, want id n, timestamp %s, signature %q", h, unix, want)
	}
}

func without(h http.Header, key string) http.Header {
	h.Del(key)
	return h
}

func with(h http.Header, key, value string) http.Header {
	h.Set(key, value)
	return h
}
