package engine

import (
	"fmt"
	"time"
)

// callbackState is what the deliverer knows of one callback URL: its deliveries in flight, its
// rate bucket, its breaker, and the pause it asked for. The deliverer's mu guards it.
type callbackState struct {
	inflight  int
	tokens    float64
	refilled  time.Time
	failures  int
	openUntil time.Time
	cooldown  time.Duration
	probe     string // the notification probing an open breaker, "" when none
	// pausedUntil is when the pause a Retry-After asked for ends; pausedAt and pauseReason say
	// when and why it began.
	pausedUntil time.Time
	pausedAt    time.Time
	pauseReason string
	url         string
}

// callback returns the state of a callback URL, creating it.
func (d *Deliverer) callback(url string, now time.Time) *callbackState {
	cb := d.callbacks[url]
	if cb == nil {
		cb = &callbackState{tokens: 1, refilled: now, url: url}
		d.callbacks[url] = cb
	}
	return cb
}

// mayStart reports whether the callback may be sent a notification now, as far as its pause, its
// breaker and its in-flight bound go; admit also takes a rate token.
func (cb *callbackState) mayStart(d *Deliverer, now time.Time) bool {
	if now.Before(cb.pausedUntil) || cb.inflight >= d.perCallback {
		return false
	}
	return cb.openUntil.IsZero() || !now.Before(cb.openUntil) && cb.probe == ""
}

// admit reserves a place with the callback for notification id: mayStart, and a rate token when
// its rate is bounded. When its breaker is open (and its cool-down over) the notification is the
// one probe.
func (cb *callbackState) admit(d *Deliverer, id string, now time.Time) bool {
	if !cb.mayStart(d, now) {
		return false
	}
	if d.rate > 0 {
		// The bucket holds at least one token, so that a rate below one per second still sends.
		cb.tokens = min(max(d.rate, 1), cb.tokens+now.Sub(cb.refilled).Seconds()*d.rate)
		cb.refilled = now
		if cb.tokens < 1 {
			return false
		}
		cb.tokens--
	}
	cb.inflight++
	if !cb.openUntil.IsZero() {
		cb.probe = id // half-open: this one notification probes the callback
	}
	return true
}

// callbackEnded frees a delivery's place with its callback, counts its outcome with the breaker,
// and starts the pause a Retry-After asked for.
func (d *Deliverer) callbackEnded(c completion) {
	cb := d.callback(c.url, c.at)
	cb.inflight--
	wasProbe := cb.probe == c.note.ID
	if wasProbe {
		cb.probe = ""
	}
	switch {
	case c.out == outUnsent:
		return // not sent: says nothing of the callback
	case c.retryAfter > 0:
		until := c.at.Add(c.retryAfter)
		if until.After(cb.pausedUntil) {
			cb.pausedUntil, cb.pausedAt = until, c.at
			cb.pauseReason = fmt.Sprintf("callback answered HTTP %d with Retry-After", c.status)
			d.log.Warn("callback asked to be left alone; nothing is sent to it until then", "callback", safeCallback(c.url),
				"status", c.status, "until", until)
		}
		return // an answer, and a pause the callback chose: not a fault for the breaker
	case c.out == outDelivered || c.out == outGone:
		if !cb.openUntil.IsZero() {
			d.log.Info("callback recovered; its backlog drains within its limits", "callback", safeCallback(c.url))
		}
		cb.failures, cb.openUntil, cb.cooldown = 0, time.Time{}, 0
		return
	}
	cb.failures++
	switch {
	case cb.openUntil.IsZero() && cb.failures >= d.breakAfter:
		cb.cooldown = 30 * time.Second // opens
	case wasProbe:
		cb.cooldown = min(2*cb.cooldown, 10*time.Minute) // the probe failed: wait longer
	default:
		return // closed and below the threshold, or a delivery that was already under way when it opened
	}
	cb.openUntil = c.at.Add(cb.cooldown)
	d.log.Warn("callback keeps failing; only a probe is sent until it recovers", "callback", safeCallback(c.url),
		"failures", cb.failures, "next_probe_in", cb.cooldown)
}
