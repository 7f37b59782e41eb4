package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers (standardwebhooks.com).
const (
	HeaderStdID        = "webhook-id"
	HeaderStdTimestamp = "webhook-timestamp"
	HeaderStdSignature = "webhook-signature"
)

// setStandardHeaders adds the Standard Webhooks headers: the signature of "id.timestamp.body" with
// each key, as "v1,<base64>" values separated by spaces, so that a receiver holding either key of
// a rotation verifies, and can reject a replay by its timestamp.
func setStandardHeaders(h http.Header, id string, ts time.Time, body []byte, keys []string) {
	unix := strconv.FormatInt(ts.Unix(), 10)
	h.Set(HeaderStdID, id)
	h.Set(HeaderStdTimestamp, unix)
	var sigs []string
	for _, k := range keys {
		if k != "" {
			sigs = append(sigs, "v1,"+SignStandard(k, id, unix, body))
		}
	}
	if len(sigs) > 0 {
		h.Set(HeaderStdSignature, strings.Join(sigs, " "))
	}
}

// SignStandard returns the base64 HMAC-SHA256 of "id.timestamp.body" with key. A key written the
// Standard Webhooks way ("whsec_" + base64) is decoded first; any other key is used as its bytes.
func SignStandard(key, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, standardKey(key))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func standardKey(key string) []byte {
	if rest, ok := strings.CutPrefix(key, "whsec_"); ok {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return b
		}
	}
	return []byte(key)
}

// VerifyStandard checks Standard Webhooks headers against key: one of the signatures matches and
// the timestamp is within tolerance of now.
func VerifyStandard(key string, h http.Header, body []byte, now time.Time, tolerance time.Duration) bool {
	id, ts := h.Get(HeaderStdID), h.Get(HeaderStdTimestamp)
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return false
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := SignStandard(key, id, ts, body)
	for _, sig := range strings.Fields(h.Get(HeaderStdSignature)) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return true
		}
	}
	return false
}
