package webhook

import (
	"bytes"
	"testing"
)

// BenchmarkSign signs a notification of 10 ticket events (~15 KB): the Elements-Webhook-Signature.
func BenchmarkSign(b *testing.B) {
	body := bytes.Repeat([]byte(`{"id":1,"subject":"Support needed for order #1234","status":2}`), 240)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if Sign("MySecretEventSignatureKey", body) == "" {
			b.Fatal("no signature")
		}
	}
}

// BenchmarkSignStandard signs the same body the Standard Webhooks way.
func BenchmarkSignStandard(b *testing.B) {
	body := bytes.Repeat([]byte(`{"id":1,"subject":"Support needed for order #1234","status":2}`), 240)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if SignStandard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", "1700000000", body) == "" {
			b.Fatal("no signature")
		}
	}
}
