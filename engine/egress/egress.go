// Package egress decides which network addresses Pollen may connect to on a tenant's behalf:
// the vendor base URL (base.url, or the element's URL with the tenant's subdomain), and callback
// URLs. The same Policy checks a URL when an instance is written (CheckURL: a 400 naming the
// field) and every connection when it is made (Dialer: the resolved address, since DNS can
// change after the write-time check).
//
// By default only public unicast addresses are allowed. Refused always: unspecified (0.0.0.0,
// ::), multicast, broadcast, reserved and documentation ranges, and the server's own listener.
// Refused unless the operator opens private networks: loopback (127.0.0.0/8, ::1), private
// (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10), unique-local (fc00::/7). Link-local
// (169.254/16, fe80::/10: cloud metadata services live there) is refused even then, unless the
// operator lists it. IPv4 embedded in IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96, 2002::/16)
// is judged by the embedded address. Hosts spelled as IPv4 numbers in other forms than dotted
// decimal (2130706433, 0x7f000001, 0177.0.0.1, 127.1) are refused at write time whatever they
// denote: resolvers disagree on them.
//
// The operator's allow-list names hosts (exact, or "*.example.internal" for a suffix), IP
// addresses or CIDR prefixes; what it names is allowed even when private or link-local.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("address not allowed")

// Options configure a Policy.
type Options struct {
	// AllowPrivate opens loopback, private, CGNAT and unique-local addresses
	// (--allow-private-networks): for tests, demos and vendors on the operator's own network.
	AllowPrivate bool
	// AllowHosts are host names ("vendor.internal", "*.corp.example"), IP addresses or CIDR
	// prefixes allowed whatever their class (except unspecified and multicast).
	AllowHosts []string
	// Self are the server's own listen addresses (host:port); connections to them are refused.
	// An unspecified host (":8080", "0.0.0.0:8080") stands for every local address.
	Self []string
}

// Policy is an egress policy. The zero value is not usable; New builds one. It is safe for
// concurrent use.
type Policy struct {
	allowPrivate bool
	names        []string // lower case; "*.x" = suffix
	prefixes     []netip.Prefix
	self         []netip.AddrPort // unspecified address: any local address on that port
}

// New builds a policy.
func New(o Options) (*Policy, error) {
	p := &Policy{allowPrivate: o.AllowPrivate}
	for _, h := range o.AllowHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
			continue
		case strings.Contains(h, "/"):
			pr, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("egress: allowed host %q: not a CIDR prefix: %w", h, err)
			}
			p.prefixes = append(p.prefixes, pr.Masked())
		default:
			if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			if _, ok := legacyIPv4(h); ok {
				return nil, fmt.Errorf("egress: allowed host %q: write IPv4 addresses as a.b.c.d", h)
			}
			p.names = append(p.names, h)
		}
	}
	for _, s := range o.Self {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			host, port, err2 := net.SplitHostPort(s)
			if err2 != nil {
				return nil, fmt.Errorf("egress: self address %q: %w", s, err2)
			}
			n, err3 := strconv.ParseUint(port, 10, 16)
			if err3 != nil {
				return nil, fmt.Errorf("egress: self address %q: bad port", s)
			}
			a := netip.IPv6Unspecified()
			if host != "" && host != "localhost" {
				if a, err = netip.ParseAddr(host); err != nil {
					return nil, fmt.Errorf("egress: self address %q: %w", s, err)
				}
			} else if host == "localhost" {
				a = netip.MustParseAddr("127.0.0.1")
			}
			ap = netip.AddrPortFrom(a, uint16(n))
		}
		p.self = append(p.self, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return p, nil
}

// Open is a policy that allows every address but unspecified and multicast ones, for tests of
// other packages that talk to loopback servers.
func Open() *Policy {
	p, _ := New(Options{AllowPrivate: true, AllowHosts: []string{"169.254.0.0/16", "fe80::/10"}})
	return p
}

// AddSelf adds a listen address of the server (host:port) to those refused; call it before the
// policy is used concurrently.
func (p *Policy) AddSelf(addr string) error {
	q, err := New(Options{Self: []string{addr}})
	if err != nil {
		return err
	}
	p.self = append(p.self, q.self...)
	return nil
}

// Class is what kind of address an IP is.
type Class string

// Address classes.
const (
	Public      Class = "public"
	Loopback    Class = "loopback"
	Private     Class = "private"
	CGNAT       Class = "shared (CGNAT)"
	LinkLocal   Class = "link-local"
	UniqueLocal Class = "unique-local"
	Multicast   Class = "multicast"
	Unspecified Class = "unspecified"
	Reserved    Class = "reserved"
)

var v4Special = []struct {
	prefix netip.Prefix
	class  Class
}{
	{netip.MustParsePrefix("0.0.0.0/8"), Unspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("100.64.0.0/10"), CGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved},
	{netip.MustParsePrefix("192.0.2.0/24"), Reserved},
	{netip.MustParsePrefix("192.88.99.0/24"), Reserved},
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved},
	{netip.MustParsePrefix("198.51.100.0/24"), Reserved},
	{netip.MustParsePrefix("203.0.113.0/24"), Reserved},
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved}, // 255.255.255.255 included
}

var v6Special = []struct {
	prefix netip.Prefix
	class  Class
}{
	{netip.MustParsePrefix("::/128"), Unspecified},
	{netip.MustParsePrefix("::1/128"), Loopback},
	{netip.MustParsePrefix("64:ff9b:1::/48"), Private},
	{netip.MustParsePrefix("100::/64"), Reserved},
	{netip.MustParsePrefix("2001::/23"), Reserved}, // Teredo and IETF protocol assignments
	{netip.MustParsePrefix("2001:db8::/32"), Reserved},
	{netip.MustParsePrefix("fc00::/7"), UniqueLocal},
	{netip.MustParsePrefix("fe80::/10"), LinkLocal},
	{netip.MustParsePrefix("fec0::/10"), UniqueLocal}, // site-local, deprecated
	{netip.MustParsePrefix("ff00::/8"), Multicast},
}

var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	compat4 = netip.MustParsePrefix("::/96")
)

// Classify returns the class of an address. IPv4 carried in IPv6 (mapped, compatible, NAT64,
// 6to4) is classified by the IPv4 address.
func Classify(a netip.Addr) Class {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a) || (compat4.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback()):
			a = netip.AddrFrom4([4]byte(b[12:16]))
		case sixTo4.Contains(a):
			a = netip.AddrFrom4([4]byte(b[2:6]))
		default:
			for _, s := range v6Special {
				if s.prefix.Contains(a) {
					return s.class
				}
			}
			return Public
		}
	}
	for _, s := range v4Special {
		if s.prefix.Contains(a) {
			return s.class
		}
	}
	return Public
}

// CheckAddr reports whether a connection to ip:port is allowed; host is the name it was dialed
// by ("" when unknown), for the allow-list of names.
func (p *Policy) CheckAddr(host string, a netip.Addr, port uint16) error {
	a = a.WithZone("").Unmap()
	if p.isSelf(a, port) {
		return fmt.Errorf("%w: %s is this server's own listener", ErrRefused, netip.AddrPortFrom(a, port))
	}
	c := Classify(a)
	switch c {
	case Public:
		return nil
	case Unspecified, Multicast:
		return fmt.Errorf("%w: %s is a %s address", ErrRefused, a, c)
	}
	if p.allowed(host, a) {
		return nil
	}
	if p.allowPrivate && (c == Loopback || c == Private || c == CGNAT || c == UniqueLocal) {
		return nil
	}
	hint := "; the operator may allow it with --allow-hosts"
	if c != LinkLocal && c != Reserved {
		hint = "; the operator may allow it with --allow-private-networks or --allow-hosts"
	}
	return fmt.Errorf("%w: %s is a %s address%s", ErrRefused, a, c, hint)
}

func (p *Policy) allowed(host string, a netip.Addr) bool {
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return host != "" && p.nameAllowed(host)
}

func (p *Policy) nameAllowed(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range p.names {
		if suffix, ok := strings.CutPrefix(n, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == n {
			return true
		}
	}
	return false
}

func (p *Policy) isSelf(a netip.Addr, port uint16) bool {
	for _, s := range p.self {
		if s.Port() != port {
			continue
		}
		if s.Addr() == a || (s.Addr().IsUnspecified() && isLocal(a)) || (s.Addr().IsLoopback() && a.IsLoopback()) {
			return true
		}
	}
	return false
}

// isLocal reports whether a is an address of this machine.
func isLocal(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// CheckURL checks a URL an instance gives, before anything connects to it: scheme http or
// https, a host, a port within 1-65535, no fragment, and a host that is not a refused address
// (an IP literal in any spelling, or a name such as localhost that always means one). Names are
// not resolved here: Dialer checks what they resolve to at connect time.
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL with a host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("must not have a fragment (#...)")
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("must have a host")
	}
	port := uint64(80)
	if u.Scheme == "https" {
		port = 443
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.ParseUint(ps, 10, 64)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q must be between 1 and 65535", ps)
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("has an empty port")
	}
	return p.checkHost(host, uint16(port))
}

// checkHost checks a URL's host without resolving it.
func (p *Policy) checkHost(host string, port uint16) error {
	lower := strings.TrimSuffix(strings.ToLower(host), ".")
	if a, err := netip.ParseAddr(lower); err == nil {
		return p.CheckAddr("", a, port)
	}
	if a, ok := legacyIPv4(lower); ok {
		return fmt.Errorf("%w: host %q is the IPv4 address %s written in another form than a.b.c.d", ErrRefused, host, a)
	}
	if p.nameAllowed(lower) {
		return nil
	}
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") || lower == "localhost.localdomain" {
		return p.CheckAddr(lower, netip.MustParseAddr("127.0.0.1"), port)
	}
	if strings.Trim(lower, "0123456789.") == "" {
		return fmt.Errorf("%w: host %q is neither a name nor an IPv4 address a.b.c.d", ErrRefused, host)
	}
	return nil
}

// legacyIPv4 parses the IPv4 forms inet_aton accepts besides dotted decimal: one to four parts,
// each decimal, 0x hexadecimal or 0 octal (2130706433, 0x7f.1, 0177.0.0.1, 127.1).
func legacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		base, digits := 10, part
		switch {
		case strings.HasPrefix(part, "0x") || strings.HasPrefix(part, "0X"):
			base, digits = 16, part[2:]
			if digits == "" {
				digits = "0"
			}
		case len(part) > 1 && part[0] == '0':
			base, digits = 8, part[1:]
		}
		if digits == "" {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*i)
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

type hostKey struct{}

// Dialer dials TCP connections that the policy allows: it checks the address each connection is
// about to use (after DNS resolution, before connecting), so that a name that resolves to a
// refused address is refused whatever it resolved to when the instance was written.
type Dialer struct {
	Policy *Policy
	// Dialer is the underlying dialer; its Control and ControlContext are replaced.
	Dialer net.Dialer
}

// DialContext is for http.Transport.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	nd := d.Dialer
	nd.Control = nil
	nd.ControlContext = d.control
	return nd.DialContext(context.WithValue(ctx, hostKey{}, host), network, addr)
}

// control runs after the address is resolved and before the connection is made.
func (d *Dialer) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q: %v", ErrRefused, address, err)
	}
	host, _ := ctx.Value(hostKey{}).(string)
	if err := d.Policy.CheckAddr(host, ap.Addr(), ap.Port()); err != nil {
		if host != "" && !strings.EqualFold(host, ap.Addr().String()) {
			return fmt.Errorf("%s resolves to a refused address: %w", host, err)
		}
		return err
	}
	return nil
}
