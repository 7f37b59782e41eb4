package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/cmd/internal/demo"
)

// The bootstrap admin's secrets of the rig's servers: strong enough for serve's check.
const (
	UserSecret = "user-secret-0f3e-49ab-a8c1-5d72e6"
	OrgSecret  = "org-secret-7b21-4c9d-9e05-a3f86b"
)

// Client calls a Pollen API as one user; its methods fail the test on a transport error.
type Client struct {
	T         testing.TB
	URL       string // the server's base URL
	User, Org string // the user's and the organization's secrets
	Element   string // an instance's token, to narrow requests to it; "" for none
}

// Do sends a request with a JSON body (a string is sent as it is; nil sends none) and returns
// the status and the body.
func (c *Client) Do(method, path string, body any) (int, []byte) {
	c.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.T.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.URL+path, r)
	if err != nil {
		c.T.Fatal(err)
	}
	auth := "User " + c.User + ", Organization " + c.Org
	if c.Element != "" {
		auth += ", Element " + c.Element
	}
	req.Header.Set("Authorization", auth)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.T.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// Must sends a request that must answer 200 and returns the body.
func (c *Client) Must(method, path string, body any) string {
	c.T.Helper()
	status, out := c.Do(method, path, body)
	if status != http.StatusOK {
		c.T.Fatalf("%s %s: %d %s", method, path, status, out)
	}
	return string(out)
}

// Get is Must(GET, path).
func (c *Client) Get(path string) string {
	c.T.Helper()
	return c.Must(http.MethodGet, path, nil)
}

// JSON decodes GET path into v.
func (c *Client) JSON(path string, v any) {
	c.T.Helper()
	if err := json.Unmarshal([]byte(c.Get(path)), v); err != nil {
		c.T.Fatalf("GET %s: %v", path, err)
	}
}

// CreateInstance creates an instance of element from its example body (for freshdeskv2, seed 000
// of the platform's documentation) with the configuration keys of conf set, and returns its id.
func (c *Client) CreateInstance(element string, conf map[string]string) int64 {
	c.T.Helper()
	id, err := demo.CreateInstance(context.Background(), c.URL, c.User, c.Org, element, conf)
	if err != nil {
		c.T.Fatal(err)
	}
	return id
}

// Poller is one entry of an instance's pollers, as GET /instances/{id} shows it.
type Poller struct {
	ObjectType string    `json:"objectType"`
	State      string    `json:"state"`
	LastError  string    `json:"lastError"`
	LastGap    string    `json:"lastGap"`
	LastPoll   time.Time `json:"lastPoll"`
	Held       string    `json:"held"`
}

// Pollers returns the instance's pollers.
func (c *Client) Pollers(id int64) []Poller {
	c.T.Helper()
	var v struct {
		Pollers []Poller `json:"pollers"`
	}
	c.JSON(fmt.Sprintf("/instances/%d", id), &v)
	return v.Pollers
}

// Polled waits until every poller of the instance that polls has finished a poll that started
// after since. Pollers that another node of a cluster polls ("remote") are not waited for: ask
// the node that polls them.
func (c *Client) Polled(id int64, since time.Time) {
	c.T.Helper()
	Until(c.T, fmt.Sprintf("instance %d polled since %s", id, since.Format(time.RFC3339Nano)), func() bool {
		for _, p := range c.Pollers(id) {
			if p.State != "paused" && p.State != "idle" && p.State != "remote" && !p.LastPoll.After(since) {
				return false
			}
		}
		return true
	})
}

// Settle waits until the instance has polled twice more, each of its pollers, and has no
// notification left to send: whatever those polls found has reached its callback (or is queued).
// Tests call it once the events they expect have arrived, so that any event too many shows.
func (c *Client) Settle(id int64) {
	c.T.Helper()
	for range 2 {
		c.Polled(id, time.Now())
	}
	Until(c.T, fmt.Sprintf("instance %d's notifications sent", id), func() bool {
		for _, status := range []string{"NEW", "DISPATCHED"} { // not yet attempted; in flight or to retry
			if strings.TrimSpace(c.Get(fmt.Sprintf("/instances/%d/events?status=%s&pageSize=1", id, status))) != "[]" {
				return false
			}
		}
		return true
	})
}
